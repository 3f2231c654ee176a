// SPDX-License-Identifier: Apache-2.0
// Lint: rules that can never match, rules shadowed by deny rules, redundant rules, L7 rules
// made ineffective by a plain L3/L4 allow,
// selectors that select nothing today, and policies that are equivalent. The semantic
// findings are proofs over every pod that could exist (scope any), each naming the rules
// involved.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "model/cluster.h"

namespace membrane::verify {

enum class LintKind {
  NeverMatches,    // no pod, peer, protocol and port make the rule match
  ShadowedByDeny,  // every flow the (allow) rule matches is denied by deny rules
  Redundant,       // removing the (allow) rule changes no verdict: other rules cover it
  // every flow the rule's HTTP rules would restrict is also allowed by a plain L3/L4 rule:
  // the proxy then allows every request (Cilium's wildcard), the HTTP rules restrict nothing
  L7ShadowedByAllow,
  SubjectSelectsNothingToday,
  PeerSelectsNothingToday,
  EquivalentPolicies,
  Unknown,  // the solver gave up on a question
};
std::string_view lintKindName(LintKind k);

struct LintFinding {
  LintKind kind = LintKind::Unknown;
  size_t rule = 0;               // the rule the finding is about (policy's first rule for
                                 // EquivalentPolicies)
  std::vector<size_t> involved;  // other rules: the covering/shadowing ones, the other policy
  std::string message;
};

struct LintOptions {
  unsigned timeout_ms = 10000;
  size_t max_policy_pairs = 2000;  // equivalence checks beyond this are skipped
};

std::vector<LintFinding> lint(const model::Cluster& cluster, const LintOptions& options = {});
void printLint(std::ostream& out, const model::Cluster& c, const std::vector<LintFinding>& fs);

}  // namespace membrane::verify
