// SPDX-License-Identifier: Apache-2.0
#include "verify/verifier.h"

#include <algorithm>
#include <chrono>
#include <tuple>

namespace membrane::verify {

using model::Direction;
using smt::Expr;

std::string_view outcomeName(Outcome o) {
  switch (o) {
    case Outcome::Holds:
      return "holds";
    case Outcome::Violated:
      return "violated";
    case Outcome::Vacuous:
      return "vacuous";
    case Outcome::Unknown:
      return "unknown";
    case Outcome::InternalError:
      return "internal-error";
  }
  return "?";
}

std::string_view verdictName(int64_t v) {
  switch (v) {
    case kVerdictDeny:
      return "deny";
    case kVerdictAllow:
      return "allow";
    case kVerdictRedirect:
      return "redirect";
  }
  return "?";
}

namespace {

// At most this many solver calls per invariant: each excludes one external address that
// is really a pod's or a node's (those resolve to that endpoint, not to world/CIDR).
constexpr int kMaxRefinements = 64;

int64_t entityKind(const std::string& e) {
  if (e == "host") return model::kIdentityHost;
  if (e == "remote-node") return model::kIdentityRemoteNode;
  if (e == "kube-apiserver") return model::kIdentityKubeApiserver;
  if (e == "health") return model::kIdentityHealth;
  if (e == "init") return model::kIdentityInit;
  if (e == "ingress") return model::kIdentityIngress;
  if (e == "unmanaged") return model::kIdentityUnmanaged;
  return -1;
}

bool sameKeyConflict(const model::Requirement& a, const model::Requirement& b) {
  using model::SelectorOp;
  auto subset = [](const std::vector<std::string>& x, const std::vector<std::string>& y) {
    return std::includes(y.begin(), y.end(), x.begin(), x.end());
  };
  auto disjoint = [](const std::vector<std::string>& x, const std::vector<std::string>& y) {
    return std::none_of(x.begin(), x.end(), [&](const std::string& v) {
      return std::binary_search(y.begin(), y.end(), v);
    });
  };
  const bool a_present = a.op == SelectorOp::In || a.op == SelectorOp::Exists;
  const bool b_present = b.op == SelectorOp::In || b.op == SelectorOp::Exists;
  if (a.op == SelectorOp::DoesNotExist) return b_present;
  if (b.op == SelectorOp::DoesNotExist) return a_present;
  if (a.op == SelectorOp::In && b.op == SelectorOp::In) return disjoint(a.values, b.values);
  if (a.op == SelectorOp::In && b.op == SelectorOp::NotIn) return subset(a.values, b.values);
  if (a.op == SelectorOp::NotIn && b.op == SelectorOp::In) return subset(b.values, a.values);
  return false;
}

bool isPodSource(const std::string& s) { return s == model::kSourceK8s || s == model::kSourceAny; }

// False only when no pod that `spec` stands for can be selected by `subject`: rules whose
// subject fails this never apply to that end of the flow and stay out of the formula.
bool maySelect(const model::Cluster& c, const model::LabelSelector& subject, const PeerSpec& spec) {
  if (spec.isAny()) return true;
  if (spec.entity) return *spec.entity == "all" || *spec.entity == "cluster";
  if (spec.cidr) return false;  // not a pod: no subject selects it
  if (spec.pod) {
    const auto slash = spec.pod->find('/');
    auto idx = c.findPod(spec.pod->substr(0, slash), spec.pod->substr(slash + 1));
    const model::Identity* ident = idx ? c.identity(c.pods[*idx].identity) : nullptr;
    return ident == nullptr || subject.matches(ident->labels);
  }
  model::LabelSelector sel = spec.podLabelSelector();
  if (spec.namespace_) {
    const model::Namespace* ns = c.findNamespace(*spec.namespace_);
    if (ns != nullptr && ns->declared) {
      for (const auto& [k, v] : ns->labels) {
        sel.add({.source = std::string(model::kSourceK8s),
                 .key = std::string(model::kLabelNamespaceLabelsPrefix) + k,
                 .op = model::SelectorOp::In,
                 .values = {v}});
      }
    }
  }
  for (const auto& a : subject.requirements) {
    if (!isPodSource(a.source)) {
      if (a.op == model::SelectorOp::In || a.op == model::SelectorOp::Exists) return false;
      continue;
    }
    for (const auto& b : sel.requirements) {
      if (a.key == b.key && isPodSource(b.source) && sameKeyConflict(a, b)) return false;
    }
  }
  return true;
}

// Addresses a real peer does not have (this network, loopback, multicast and reserved):
// valid in the encoding, but a witness with one is useless for a replay in namespaces.
const model::Cidr kUnusualRanges[] = {
    {.addr = 0x00000000, .len = 8}, {.addr = 0x7F000000, .len = 8}, {.addr = 0xE0000000, .len = 3}};

// After a sat check: when an external end of the model has an unusual address, looks for
// a model with ordinary ones instead; when there is none, restores a model of the formula.
void preferOrdinaryAddresses(Encoder& enc, const SymFlow& f) {
  smt::Context& ctx = enc.ctx();
  bool unusual = false;
  std::vector<Expr> ordinary;
  for (const SymEndpoint* e : {&f.src, &f.dst}) {
    const bool external = ctx.intValue(e->kind) == kKindExternal;
    const auto addr = static_cast<model::Ipv4>(ctx.bvValue(e->addr));
    for (const auto& r : kUnusualRanges) {
      unusual |= external && r.contains(addr);
      ordinary.push_back(
          ctx.implies(ctx.eq(e->kind, ctx.intVal(kKindExternal)), ctx.mkNot(enc.inCidr(*e, r))));
    }
  }
  if (!unusual) return;
  if (ctx.checkAssuming(ordinary).status != smt::Status::Sat) ctx.check();
}

double millisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

Verifier::Verifier(const model::Cluster& cluster, VerifyOptions options)
    : cluster_(cluster), options_(options) {
  for (const auto& p : cluster.pods) {
    if (p.ip) cluster_addrs_.insert(*p.ip);
  }
  for (const auto& n : cluster.nodes) {
    if (n.internal_ip) cluster_addrs_.insert(*n.internal_ip);
  }
}

std::optional<SymEndpoint> Verifier::peerEndpoint(Encoder& enc, const PeerSpec& spec,
                                                  const std::string& name, Scope scope,
                                                  std::string* error) {
  if (spec.service && !spec.pod && !spec.cidr) {
    // Defensive: a Service end is a set of backends, never one endpoint to encode.
    *error = "Service " + *spec.service + " was not expanded per backend (expandServiceInvariants)";
    return std::nullopt;
  }
  if (!spec.pod) return enc.endpoint(name, scope);
  const auto slash = spec.pod->find('/');
  auto idx = cluster_.findPod(spec.pod->substr(0, slash), spec.pod->substr(slash + 1));
  if (!idx) {
    *error = "pod " + *spec.pod + " does not exist";
    return std::nullopt;
  }
  const auto& classes = enc.classes();
  for (size_t c = 0; c < classes.size(); ++c) {
    if (std::find(classes[c].pods.begin(), classes[c].pods.end(), *idx) != classes[c].pods.end()) {
      return enc.fixedPod(name, c);
    }
  }
  *error = "pod " + *spec.pod + " has no endpoint class";
  return std::nullopt;
}

Expr Verifier::peerConstraint(Encoder& enc, const PeerSpec& spec, const SymEndpoint& e) {
  smt::Context& ctx = enc.ctx();
  if (spec.isAny() || spec.pod) return ctx.boolVal(true);
  if (spec.isPodSpec()) return ctx.mkAnd(enc.isPod(e), enc.selects(spec.podLabelSelector(), e));
  if (spec.cidr) {
    std::vector<Expr> m{ctx.eq(e.kind, ctx.intVal(kKindExternal)), enc.inCidr(e, spec.cidr->cidr)};
    for (const auto& x : spec.cidr->except) m.push_back(ctx.mkNot(enc.inCidr(e, x)));
    return ctx.mkAnd(m);
  }
  const std::string& ent = *spec.entity;
  if (ent == "all") return ctx.boolVal(true);
  if (ent == "world") return ctx.eq(e.kind, ctx.intVal(kKindExternal));
  if (ent == "cluster") {
    return ctx.mkNot(ctx.eq(e.kind, ctx.intVal(kKindExternal)));  // pods and reserved
  }
  const int64_t k = entityKind(ent);
  return k < 0 ? ctx.boolVal(false) : ctx.eq(e.kind, ctx.intVal(k));
}

Expr Verifier::portConstraint(Encoder& enc, const Invariant& inv, const SymFlow& f) {
  smt::Context& ctx = enc.ctx();
  if (inv.ports.empty()) return ctx.boolVal(true);
  std::vector<Expr> any;
  for (const auto& p : inv.ports) {
    std::vector<Expr> protos;
    if (p.protocol == model::kProtoAny) {
      for (uint8_t q : {model::kProtoTCP, model::kProtoUDP, model::kProtoSCTP}) {
        protos.push_back(ctx.eq(f.proto, ctx.intVal(q)));
      }
    } else {
      protos.push_back(ctx.eq(f.proto, ctx.intVal(p.protocol)));
    }
    any.push_back(ctx.mkAnd(ctx.mkOr(protos), ctx.inRange(f.port, p.port, p.end_port)));
  }
  return ctx.mkOr(any);
}

bool fails(const InvariantResult& r) {
  if (r.outcome == Outcome::Vacuous) return r.invariant == nullptr || !r.invariant->allow_vacuous;
  return r.outcome == Outcome::Violated;
}

bool Verifier::endsSatisfiable(Encoder& enc, const Invariant& inv, const SymEndpoint& src,
                               const SymEndpoint& dst, InvariantResult& res) {
  const char* what = inv.scope == Scope::Any ? "nothing that could exist" : "nothing that exists";
  for (const auto& [spec, e, end] :
       {std::tuple{&inv.from, &src, "from"}, std::tuple{&inv.to, &dst, "to"}}) {
    const smt::CheckResult r = enc.ctx().checkAssuming({peerConstraint(enc, *spec, *e)});
    ++res.checks;
    if (r.status == smt::Status::Sat) continue;
    if (r.status == smt::Status::Unknown) {
      res.reason = "solver: " + r.reason;
    } else {
      res.outcome = Outcome::Vacuous;
      res.reason = std::string(end) + " matches " + what + ": " + spec->str();
    }
    return false;
  }
  return true;
}

std::optional<size_t> Verifier::namedPod(const PeerSpec& spec) const {
  if (!spec.pod) return std::nullopt;
  const auto slash = spec.pod->find('/');
  return cluster_.findPod(spec.pod->substr(0, slash), spec.pod->substr(slash + 1));
}

// The explanation's side lines under the reason's first line.
static std::string indentLines(std::string s) {
  for (size_t i = s.find('\n'); i != std::string::npos; i = s.find('\n', i + 1)) {
    s.insert(i + 1, "    ");
  }
  return s;
}

void Verifier::solve(Encoder& enc, const Invariant& inv, const SymFlow& f,
                     const Encoder::FlowVerdict& v, const smt::Expr* req_allowed,
                     InvariantResult& res) {
  smt::Context& ctx = enc.ctx();
  for (int i = 0; i < kMaxRefinements; ++i) {
    const smt::CheckResult r = ctx.check();
    ++res.checks;
    if (r.status == smt::Status::Unsat) {
      res.outcome = Outcome::Holds;
      return;
    }
    if (r.status == smt::Status::Unknown) {
      res.reason = "solver: " + r.reason;
      return;
    }
    preferOrdinaryAddresses(enc, f);
    Witness w = makeWitness(enc, f, v, namedPod(inv.from), namedPod(inv.to),
                            inv.http ? &*inv.http : nullptr, req_allowed);
    if (options_.perturb_witness) options_.perturb_witness(w);
    bool refined = false;
    for (const auto* e : {&f.src, &f.dst}) {
      const WitnessEnd& we = e == &f.src ? w.src : w.dst;
      if (we.kind == kKindExternal && cluster_addrs_.contains(we.addr)) {
        ctx.add(ctx.mkNot(ctx.eq(e->addr, ctx.bvVal(we.addr, 32))));
        refined = true;
      }
    }
    if (refined) continue;
    if (!w.agrees()) {
      res.outcome = Outcome::InternalError;
      res.reason =
          "internal error: the SMT encoding says " +
          std::string(w.smt_allowed ? "allowed" : "denied") + (w.smt_l7 ? " (L7-restricted)" : "") +
          " but model::Engine says " + (w.engineAllowed() ? "allowed" : "denied") +
          (w.engineL7() ? " (L7-restricted)" : "") +
          (w.smt_request ? std::string(", the request ") + (*w.smt_request ? "allowed" : "denied") +
                               " but model::decideHttp says " +
                               (w.engine_request.value_or(false) ? "allowed" : "denied")
                         : std::string()) +
          " for " + w.flowStr();
    } else if (inv.http) {
      res.outcome = Outcome::Violated;
      res.reason = std::string(inv.expect == Expect::Deny ? "a flow carries the request"
                                                          : "a flow does not carry the request") +
                   ": " + indentLines(w.http_explain);
    } else if (w.smt_l7) {
      // The proxy decides such a flow request by request (or drops it where none runs): a
      // flow-level allow or deny is not what happens, whatever the invariant expects.
      res.outcome = Outcome::Violated;
      res.reason =
          "L7-restricted: the L7 proxy decides each request (ask with http: in the invariant):";
      for (const auto& l : w.l7_rules) res.reason += " " + l + ";";
      res.reason.pop_back();
    } else {
      res.outcome = Outcome::Violated;
      res.reason = inv.expect == Expect::Deny ? "a flow is allowed" : "a flow is denied";
    }
    res.witness = std::move(w);
    return;
  }
  res.reason = "gave up after " + std::to_string(kMaxRefinements) + " refinements";
}

InvariantResult Verifier::check(const Invariant& inv) {
  const auto start = std::chrono::steady_clock::now();
  InvariantResult res{.invariant = &inv};
  Universe u;
  u.addRules(cluster_);
  u.addSelector(inv.from.podLabelSelector());
  u.addSelector(inv.to.podLabelSelector());
  smt::Context ctx({.timeout_ms = options_.timeout_ms});
  Encoder enc(ctx, cluster_, u);
  std::string error;
  auto src = peerEndpoint(enc, inv.from, "src", inv.scope, &error);
  auto dst = src ? peerEndpoint(enc, inv.to, "dst", inv.scope, &error) : std::nullopt;
  if (!src || !dst) {
    res.reason = error;
  } else if (endsSatisfiable(enc, inv, *src, *dst, res)) {
    SymFlow f = enc.flow(std::move(*src), std::move(*dst));
    ctx.add(peerConstraint(enc, inv.from, f.src));
    ctx.add(peerConstraint(enc, inv.to, f.dst));
    ctx.add(portConstraint(enc, inv, f));
    if (inv.http) ctx.add(ctx.eq(f.proto, ctx.intVal(model::kProtoTCP)));
    // Each end can exist, but maybe no flow between them can (neither end a pod, the one
    // existing pod to itself): as empty a promise as an end that matches nothing.
    const smt::CheckResult r = ctx.check();
    ++res.checks;
    if (r.status == smt::Status::Unsat) {
      res.outcome = Outcome::Vacuous;
      res.reason = "no flow from " + inv.from.str() + " to " + inv.to.str() + " can exist";
    } else if (r.status == smt::Status::Unknown) {
      res.reason = "solver: " + r.reason;
    } else {
      std::vector<bool> relevant(cluster_.policies.rules.size(), true);
      for (const auto& rule : cluster_.policies.rules) {
        if (!options_.prune_rules) break;
        const bool egress = rule.direction == Direction::Egress;
        relevant[rule.id] = maySelect(cluster_, rule.subject, egress ? inv.from : inv.to);
      }
      const Encoder::FlowVerdict v = enc.flowVerdict(f, &relevant);
      if (inv.http) {
        // The proxy decides L7-restricted flows for this request: no L7 escape.
        const Expr req = enc.flowAllowsRequest(f, *inv.http, &relevant);
        ctx.add(inv.expect == Expect::Deny ? req : ctx.mkNot(req));
        solve(enc, inv, f, v, &req, res);
      } else {
        ctx.add(ctx.mkOr(inv.expect == Expect::Deny ? v.allowed : ctx.mkNot(v.allowed), v.l7));
        solve(enc, inv, f, v, nullptr, res);
      }
    }
  }
  res.millis = millisSince(start);
  return res;
}

}  // namespace membrane::verify
