// SPDX-License-Identifier: Apache-2.0
// Proving invariants and validating compiled map state against the rule semantics.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "model/cluster.h"
#include "model/engine.h"
#include "verify/invariants.h"
#include "verify/smt/smt.h"
#include "verify/witness.h"

namespace membrane::verify {

struct VerifyOptions {
  unsigned timeout_ms = 30000;  // per solver check
  // A seam for tests: called on every witness after the engine replayed it and before its
  // verdict is compared with the encoding's, so a test can make the two disagree and see
  // the internal-error path (exit 4) without a broken encoding.
  std::function<void(Witness&)> perturb_witness;
  // Leave out rules whose subject provably cannot select the invariant's end (a shortcut;
  // false gives the unpruned formula, which property tests compare against).
  bool prune_rules = true;
};

// Vacuous: `from` or `to` (or the pair) matches nothing that could exist (scope any) or
// exists (scope existing), so "holds" would be an empty promise.
// InternalError: the SMT encoding and model::Engine (or the compiled map state) disagree;
// a bug in membrane, never an answer about the policy.
enum class Outcome { Holds, Violated, Vacuous, Unknown, InternalError };

std::string_view outcomeName(Outcome o);

struct InvariantResult {
  const Invariant* invariant = nullptr;
  Outcome outcome = Outcome::Unknown;
  std::string reason;  // Unknown: why; Violated: one line
  std::optional<Witness> witness;
  double millis = 0;
  size_t checks = 0;  // solver calls (refinements of external addresses included)
};
// Whether the result fails the run (violated, or vacuous without allowVacuous).
bool fails(const InvariantResult& r);

// One endpoint class whose compiled map state disagrees with the rules.
struct CompiledMismatch {
  size_t pod = 0;  // representative pod
  model::Direction direction = model::Direction::Ingress;
  model::IdentityId peer = 0;
  uint8_t protocol = 0;
  uint16_t port = 0;
  int64_t rule_verdict = 0;               // kVerdict*: the SMT encoding of the rules
  int64_t map_verdict = 0;                // the compiled map state's lookup
  int64_t engine_verdict = 0;             // model::Engine::decide on the same flow
  std::vector<std::string> engine_rules;  // the rules that decided it in the engine
};

struct CompiledResult {
  size_t endpoints = 0;  // classes checked
  std::vector<CompiledMismatch> mismatches;
  std::vector<std::string> unknown;  // "pod: reason"
  double millis = 0;
};

std::string_view verdictName(int64_t v);

class Verifier {
 public:
  Verifier(const model::Cluster& cluster, VerifyOptions options = {});

  InvariantResult check(const Invariant& inv);
  // Translation validation: for every endpoint class, one query "some peer identity,
  // direction, protocol and port where the compiled lookup differs from the rules".
  // `compile` replaces model::Engine::compile (a seam for tests that corrupt map state).
  using CompileFn = std::function<model::MapState(const model::Engine&, size_t pod)>;
  CompiledResult checkCompiled(const CompileFn& compile = {});

  const model::Cluster& cluster() const { return cluster_; }

 private:
  smt::Expr peerConstraint(Encoder& enc, const PeerSpec& spec, const SymEndpoint& e);
  smt::Expr portConstraint(Encoder& enc, const Invariant& inv, const SymFlow& f);
  // Whether each end alone can be satisfied (scope any: by something that could exist;
  // existing: by something that exists); fills `res` (vacuous or unknown) when not.
  bool endsSatisfiable(Encoder& enc, const Invariant& inv, const SymEndpoint& src,
                       const SymEndpoint& dst, InvariantResult& res);
  // The solver loop: witnesses, refinement of external addresses, replay in the engine.
  // `req_allowed`: the encoding's answer for the invariant's HTTP request, when it has one.
  void solve(Encoder& enc, const Invariant& inv, const SymFlow& f, const Encoder::FlowVerdict& v,
             const smt::Expr* req_allowed, InvariantResult& res);
  // The pod an invariant end names with `pod:` (its index), if any.
  std::optional<size_t> namedPod(const PeerSpec& spec) const;
  // The endpoint an invariant's peer stands for: fixed for `pod:`, symbolic otherwise.
  std::optional<SymEndpoint> peerEndpoint(Encoder& enc, const PeerSpec& spec,
                                          const std::string& name, Scope scope, std::string* error);

  const model::Cluster& cluster_;
  VerifyOptions options_;
  std::unordered_set<model::Ipv4> cluster_addrs_;  // pod and node addresses
};

}  // namespace membrane::verify
