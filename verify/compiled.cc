// SPDX-License-Identifier: Apache-2.0
// Translation validation: the compiled map state of every endpoint, looked up the way the
// datapath does (LPM with the peer's identity, then with identity 0; deny wins; else the
// higher precedence, ties to the longer prefix), gives the rules' verdict for every peer,
// direction, protocol and port. One query per endpoint class; unsat = proven.
#include <algorithm>
#include <chrono>

#include "verify/verifier.h"

namespace membrane::verify {

using model::Direction;
using model::MapKey;
using model::MapValue;
using smt::Expr;

namespace {

// The attributes of an LPM lookup result, symbolically.
struct Lpm {
  Expr found, precedence, prefix, verdict;
};

int64_t verdictCode(model::EntryVerdict v) {
  switch (v) {
    case model::EntryVerdict::Allow:
      return kVerdictAllow;
    case model::EntryVerdict::Deny:
      return kVerdictDeny;
    case model::EntryVerdict::Redirect:
      return kVerdictRedirect;
  }
  return kVerdictDeny;
}

Expr keyCovers(smt::Context& ctx, const MapKey& k, Expr proto, Expr port) {
  if (k.prefix_len == 0) return ctx.boolVal(true);
  const Expr p = ctx.eq(proto, ctx.intVal(k.protocol));
  if (k.prefix_len <= model::kPrefixProtoOnly) return p;
  const unsigned bits = k.prefix_len - model::kPrefixProtoOnly;
  const uint32_t mask = (0xFFFFu << (16 - bits)) & 0xFFFFu;
  const int64_t lo = k.port & mask;
  const int64_t hi = lo | (~mask & 0xFFFFu);
  return ctx.mkAnd(p, ctx.inRange(port, lo, hi));
}

// Longest-prefix match over the entries of one identity (sorted by prefix, shortest first):
// each longer covering entry overrides the shorter ones.
Lpm lpm(smt::Context& ctx, const std::vector<const std::pair<const MapKey, MapValue>*>& entries,
        Expr proto, Expr port) {
  Lpm r{ctx.boolVal(false), ctx.intVal(0), ctx.intVal(0), ctx.intVal(kVerdictDeny)};
  for (const auto* e : entries) {
    const Expr c = keyCovers(ctx, e->first, proto, port);
    r.found = ctx.ite(c, ctx.boolVal(true), r.found);
    r.precedence = ctx.ite(c, ctx.intVal(e->second.precedence), r.precedence);
    r.prefix = ctx.ite(c, ctx.intVal(e->first.prefix_len), r.prefix);
    r.verdict = ctx.ite(c, ctx.intVal(verdictCode(e->second.verdict)), r.verdict);
  }
  return r;
}

Lpm select(smt::Context& ctx, Expr cond, const Lpm& a, const Lpm& b) {
  return {ctx.ite(cond, a.found, b.found), ctx.ite(cond, a.precedence, b.precedence),
          ctx.ite(cond, a.prefix, b.prefix), ctx.ite(cond, a.verdict, b.verdict)};
}

Expr mapVerdict(Encoder& enc, const model::MapState& ms, Direction dir, const SymEndpoint& peer,
                Expr proto, Expr port) {
  smt::Context& ctx = enc.ctx();
  std::map<model::IdentityId, std::vector<const std::pair<const MapKey, MapValue>*>> by_id;
  for (const auto& e : ms.entries) {
    if (e.first.direction == dir) by_id[e.first.identity].push_back(&e);
  }
  for (auto& [id, v] : by_id) {
    std::sort(v.begin(), v.end(), [](const auto* a, const auto* b) {
      return a->first.prefix_len < b->first.prefix_len;
    });
  }
  const Lpm none{ctx.boolVal(false), ctx.intVal(0), ctx.intVal(0), ctx.intVal(kVerdictDeny)};
  const Lpm l4 = by_id.count(0) ? lpm(ctx, by_id[0], proto, port) : none;
  Lpm l3 = none;
  for (const auto& [id, entries] : by_id) {
    if (id == 0) continue;
    l3 = select(ctx, enc.hasIdentity(peer, id), lpm(ctx, entries, proto, port), l3);
  }
  const Expr l3_deny =
      ctx.mkAnd(l3.found, ctx.eq(l3.precedence, ctx.intVal(model::kPrecedenceDeny)));
  const Expr use_l4 = ctx.mkAnd(
      l4.found,
      ctx.mkOr({ctx.mkNot(l3.found), ctx.lt(l3.precedence, l4.precedence),
                ctx.mkAnd(ctx.eq(l3.precedence, l4.precedence), ctx.lt(l3.prefix, l4.prefix))}));
  return ctx.ite(
      l3_deny, ctx.intVal(kVerdictDeny),
      ctx.ite(use_l4, l4.verdict, ctx.ite(l3.found, l3.verdict, ctx.intVal(kVerdictDeny))));
}

// The identity the peer had in the model (for the report).
model::IdentityId peerIdentity(const Encoder& enc, const WitnessEnd& w) {
  const model::Cluster& c = enc.cluster();
  if (w.kind == kKindPod) return w.cls ? enc.classes()[*w.cls].identity : 0;
  if (w.kind != kKindExternal) return static_cast<model::IdentityId>(w.kind);
  model::IdentityId best = model::kIdentityWorld;
  int best_len = -1;
  for (const auto& [id, ident] : c.identities) {
    if (ident.kind != model::IdentityKind::Cidr || !ident.cidr) continue;
    if (ident.cidr->contains(w.addr) && ident.cidr->len > best_len) {
      best = id;
      best_len = ident.cidr->len;
    }
  }
  return best;
}

}  // namespace

CompiledResult Verifier::checkCompiled(const CompileFn& compile) {
  const auto start = std::chrono::steady_clock::now();
  CompiledResult res;
  Universe u;
  u.addRules(cluster_);
  smt::Context ctx({.timeout_ms = options_.timeout_ms});
  Encoder enc(ctx, cluster_, u);
  model::Engine engine(cluster_);
  SymEndpoint peer = enc.endpoint("peer", Scope::Existing);
  const Expr proto = ctx.intVar("proto");
  const Expr port = ctx.intVar("port");
  enc.assertFlowDomain(proto, port);
  const Expr is_egress = ctx.boolVar("egress");
  for (size_t c = 0; c < enc.classes().size(); ++c) {
    const size_t pod = enc.classes()[c].pods.front();
    const model::MapState ms = compile ? compile(engine, pod) : engine.compile(pod);
    smt::Scope scope(ctx);
    const SymEndpoint self = enc.fixedPod("self", c);
    std::vector<Expr> differ;
    for (Direction dir : {Direction::Ingress, Direction::Egress}) {
      const Expr rules = enc.sideVerdict(dir, self, peer, proto, port);
      const Expr map = mapVerdict(enc, ms, dir, peer, proto, port);
      const Expr here = dir == Direction::Egress ? is_egress : ctx.mkNot(is_egress);
      differ.push_back(ctx.mkAnd(here, ctx.mkNot(ctx.eq(rules, map))));
    }
    ctx.add(ctx.mkOr(differ));
    ++res.endpoints;
    const smt::CheckResult r = ctx.check();
    if (r.status == smt::Status::Unsat) continue;
    if (r.status == smt::Status::Unknown) {
      res.unknown.push_back(cluster_.pods[pod].ref() + ": " + r.reason);
      continue;
    }
    const WitnessEnd w = decodeEndpoint(enc, peer);
    CompiledMismatch m{
        .pod = pod,
        .direction = ctx.boolValue(is_egress) ? Direction::Egress : Direction::Ingress,
        .peer = peerIdentity(enc, w),
        .protocol = static_cast<uint8_t>(ctx.intValue(proto)),
        .port = static_cast<uint16_t>(ctx.intValue(port))};
    m.rule_verdict = ctx.intValue(enc.sideVerdict(m.direction, self, peer, proto, port));
    m.map_verdict = ctx.intValue(mapVerdict(enc, ms, m.direction, peer, proto, port));
    // The reference engine's answer on the same flow says which of the two is wrong.
    const model::SideDecision d = engine.decide(pod, m.direction, m.peer, m.protocol, m.port);
    m.engine_verdict = d.l7_restricted                              ? kVerdictRedirect
                       : !d.allowed                                 ? kVerdictDeny
                       : d.verdict == model::EntryVerdict::Redirect ? kVerdictRedirect
                                                                    : kVerdictAllow;
    for (size_t id : d.rules) m.engine_rules.push_back(cluster_.policies.rules[id].describe());
    res.mismatches.push_back(m);
  }
  res.millis =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return res;
}

}  // namespace membrane::verify
