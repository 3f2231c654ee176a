// SPDX-License-Identifier: Apache-2.0
#include "verify/lint.h"

#include <map>

#include "model/engine.h"
#include "verify/encode.h"

namespace membrane::verify {

using model::Direction;
using model::PolicyRule;
using smt::Expr;

std::string_view lintKindName(LintKind k) {
  switch (k) {
    case LintKind::NeverMatches:
      return "never-matches";
    case LintKind::ShadowedByDeny:
      return "shadowed";
    case LintKind::Redundant:
      return "redundant";
    case LintKind::L7ShadowedByAllow:
      return "l7-shadowed";
    case LintKind::SubjectSelectsNothingToday:
      return "subject-selects-nothing";
    case LintKind::PeerSelectsNothingToday:
      return "peer-selects-nothing";
    case LintKind::EquivalentPolicies:
      return "equivalent-policies";
    case LintKind::Unknown:
      return "unknown";
  }
  return "?";
}

namespace {

class Linter {
 public:
  Linter(const model::Cluster& c, const LintOptions& o)
      : cluster_(c),
        options_(o),
        universe_(makeUniverse(c)),
        ctx_({.timeout_ms = o.timeout_ms}),
        enc_(ctx_, c, universe_) {
    self_ = enc_.endpoint("self", Scope::Any);
    peer_ = enc_.endpoint("peer", Scope::Any);
    proto_ = ctx_.intVar("proto");
    port_ = ctx_.intVar("port");
    enc_.assertFlowDomain(proto_, port_);
    ctx_.add(enc_.isPod(self_));
  }

  void run() {
    for (const auto& r : cluster_.policies.rules) today(r);
    for (const auto& r : cluster_.policies.rules) semantic(r);
    equivalences();
  }

  std::vector<LintFinding> findings;

 private:
  static Universe makeUniverse(const model::Cluster& c) {
    Universe u;
    u.addRules(c);
    return u;
  }

  Expr match(const PolicyRule& r) { return enc_.ruleMatches(r, self_, peer_, proto_, port_); }

  // Sat of `e` under the context; Unknown is recorded as a finding and treated as sat.
  bool sat(Expr e, const PolicyRule& r) {
    const smt::CheckResult res = ctx_.checkAssuming({e});
    if (res.status == smt::Status::Unknown) {
      findings.push_back(
          {.kind = LintKind::Unknown, .rule = r.id, .message = "solver: " + res.reason});
    }
    return res.status != smt::Status::Unsat;
  }

  void today(const PolicyRule& r) {
    bool subject = false;
    bool peer = r.peers.kind != model::PeerSet::Kind::Some || !r.peers.cidrs.empty();
    for (const auto& [id, ident] : cluster_.identities) {
      if (ident.kind == model::IdentityKind::Cluster && r.subject.matches(ident.labels))
        subject = true;
      for (const auto& s : r.peers.selectors) peer |= s.matches(ident.labels);
    }
    if (!subject) {
      findings.push_back({.kind = LintKind::SubjectSelectsNothingToday,
                          .rule = r.id,
                          .message = "the subject " + r.subject.str() + " selects no pod today"});
    }
    if (!peer && !r.peers.selectors.empty()) {
      findings.push_back({.kind = LintKind::PeerSelectsNothingToday,
                          .rule = r.id,
                          .message = "the peers " + r.peers.str() + " select no identity today"});
    }
  }

  std::vector<size_t> overlapping(const PolicyRule& r, Expr mr, bool want_deny) {
    std::vector<size_t> out;
    for (const auto& q : cluster_.policies.rules) {
      if (q.id == r.id || q.direction != r.direction || q.deny != want_deny) continue;
      if (sat(ctx_.mkAnd(mr, match(q)), q)) out.push_back(q.id);
    }
    return out;
  }

  // A plain allow the model widens an HTTP rule set with (model/l7_decide.cc): no L7 rules,
  // no ICMP section, numeric ports only (a named port never widens: stricter than Cilium).
  static bool widensHttp(const PolicyRule& q) {
    if (q.deny || !q.l7.empty() || q.icmps_present) return false;
    for (const auto& p : q.ports) {
      if (!p.name.empty()) return false;
    }
    return true;
  }

  // The HTTP rules of redirect rule `r` restrict nothing when every flow it matches and no
  // deny drops is also matched by a widening plain allow of the same direction.
  bool l7ShadowedByPlainAllow(const PolicyRule& r, Expr mr, Expr denied) {
    // Ingress redirects are not widened: the datapath drops them (bpf/lib/proxy.h).
    if (r.direction != Direction::Egress) return false;
    for (const auto& l : r.l7) {
      if (l.type != "http") return false;  // DNS/Kafka rules are not widened
    }
    std::vector<Expr> plain;
    std::vector<size_t> ids;
    for (const auto& q : cluster_.policies.rules) {
      if (q.id == r.id || q.direction != r.direction || !widensHttp(q)) continue;
      plain.push_back(match(q));
      ids.push_back(q.id);
    }
    if (plain.empty()) return false;
    if (sat(ctx_.mkAnd({mr, ctx_.mkNot(denied), ctx_.mkNot(ctx_.mkOr(plain))}), r)) return false;
    LintFinding f{.kind = LintKind::L7ShadowedByAllow,
                  .rule = r.id,
                  .message =
                      "its HTTP rules restrict nothing: a plain L3/L4 allow covers every "
                      "flow it matches, so the proxy allows every request"};
    for (size_t i = 0; i < ids.size(); ++i) {
      if (sat(ctx_.mkAnd(mr, plain[i]), r)) f.involved.push_back(ids[i]);
    }
    findings.push_back(std::move(f));
    return true;
  }

  void semantic(const PolicyRule& r) {
    // An empty allow rule (CNP `ingress: [{}]`) only turns default deny on: not a finding.
    if (!r.deny && r.peers.kind == model::PeerSet::Kind::None) return;
    const Expr mr = match(r);
    if (!sat(mr, r)) {
      findings.push_back(
          {.kind = LintKind::NeverMatches,
           .rule = r.id,
           .message = std::string(r.deny ? "deny" : "allow") + " rule can never match any flow"});
      return;
    }
    if (r.deny) return;
    std::vector<Expr> denies;
    std::vector<Expr> covers;
    std::vector<Expr> others_enforce;
    const uint32_t prec = model::Engine::rulePrecedence(r);
    for (const auto& q : cluster_.policies.rules) {
      if (q.id == r.id || q.direction != r.direction) continue;
      if (q.deny) denies.push_back(match(q));
      if (!q.deny && model::Engine::rulePrecedence(q) >= prec) covers.push_back(match(q));
      if (q.default_deny) others_enforce.push_back(enc_.subjectSelects(q, self_));
    }
    if (!sat(ctx_.mkAnd(mr, ctx_.mkNot(ctx_.mkOr(denies))), r)) {
      findings.push_back({.kind = LintKind::ShadowedByDeny,
                          .rule = r.id,
                          .involved = overlapping(r, mr, true),
                          .message = "every flow this rule allows is denied by deny rules"});
      return;
    }
    if (!r.l7.empty()) {
      if (l7ShadowedByPlainAllow(r, mr, ctx_.mkOr(denies))) return;
    }
    const Expr uncovered =
        ctx_.mkAnd({mr, ctx_.mkNot(ctx_.mkOr(denies)), ctx_.mkNot(ctx_.mkOr(covers))});
    // Removing r must also leave default deny where it was.
    const Expr sole_enforcer = r.default_deny ? ctx_.mkAnd(enc_.subjectSelects(r, self_),
                                                           ctx_.mkNot(ctx_.mkOr(others_enforce)))
                                              : ctx_.boolVal(false);
    if (!sat(ctx_.mkOr(uncovered, sole_enforcer), r)) {
      findings.push_back({.kind = LintKind::Redundant,
                          .rule = r.id,
                          .involved = overlapping(r, mr, false),
                          .message = "redundant: other rules allow every flow this rule allows"});
    }
  }

  // Two policies are equivalent when, standing alone, they decide every flow the same way.
  void equivalences() {
    std::map<std::string, std::vector<size_t>> by_policy;
    for (const auto& r : cluster_.policies.rules) {
      by_policy[std::string(model::policyKindName(r.kind)) + " " + r.policy_namespace + "/" +
                r.policy_name]
          .push_back(r.id);
    }
    std::vector<std::pair<std::string, std::vector<bool>>> filters;
    for (const auto& [name, ids] : by_policy) {
      std::vector<bool> f(cluster_.policies.rules.size(), false);
      for (size_t id : ids) f[id] = true;
      filters.push_back({name, std::move(f)});
    }
    size_t pairs = 0;
    for (size_t a = 0; a < filters.size(); ++a) {
      for (size_t b = a + 1; b < filters.size() && pairs < options_.max_policy_pairs;
           ++b, ++pairs) {
        std::vector<Expr> differ;
        for (Direction dir : {Direction::Ingress, Direction::Egress}) {
          differ.push_back(ctx_.mkNot(
              ctx_.eq(enc_.sideVerdict(dir, self_, peer_, proto_, port_, &filters[a].second),
                      enc_.sideVerdict(dir, self_, peer_, proto_, port_, &filters[b].second))));
        }
        const size_t first_a = by_policy[filters[a].first].front();
        const size_t first_b = by_policy[filters[b].first].front();
        if (sat(ctx_.mkOr(differ), cluster_.policies.rules[first_a])) continue;
        findings.push_back({.kind = LintKind::EquivalentPolicies,
                            .rule = first_a,
                            .involved = {first_b},
                            .message = filters[a].first + " and " + filters[b].first +
                                       " are equivalent: each alone decides every flow alike"});
      }
    }
  }

  const model::Cluster& cluster_;
  LintOptions options_;
  Universe universe_;
  smt::Context ctx_;
  Encoder enc_;
  SymEndpoint self_;
  SymEndpoint peer_;
  Expr proto_;
  Expr port_;
};

}  // namespace

std::vector<LintFinding> lint(const model::Cluster& cluster, const LintOptions& options) {
  Linter l(cluster, options);
  l.run();
  return std::move(l.findings);
}

void printLint(std::ostream& out, const model::Cluster& c, const std::vector<LintFinding>& fs) {
  for (const auto& f : fs) {
    const PolicyRule& r = c.policies.rules[f.rule];
    out << "warning[" << lintKindName(f.kind) << "]: " << r.describe() << ": " << f.message << "\n";
    for (size_t id : f.involved) out << "    involves " << c.policies.rules[id].describe() << "\n";
  }
  out << fs.size() << " finding" << (fs.size() == 1 ? "" : "s") << " in " << c.policies.rules.size()
      << " rules\n";
}

}  // namespace membrane::verify
