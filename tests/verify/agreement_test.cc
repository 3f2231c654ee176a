// SPDX-License-Identifier: Apache-2.0
// Property: for random clusters, policies and concrete flows, the SMT encoding's verdict
// equals model::Engine::evaluate and the compiled map lookup, per side and for the flow.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "tests/support/cluster_gen.h"
#include "verify/encode.h"

namespace membrane::verify {
namespace {

using model::Direction;

int64_t decisionCode(const model::SideDecision& d) {
  if (d.l7_restricted) return kVerdictRedirect;  // L7 decides: the encoding's redirect
  if (!d.allowed) return kVerdictDeny;
  return d.verdict == model::EntryVerdict::Redirect ? kVerdictRedirect : kVerdictAllow;
}

int64_t lookupCode(const model::MapLookup& l) {
  if (!l.found || l.value.verdict == model::EntryVerdict::Deny) return kVerdictDeny;
  return l.value.verdict == model::EntryVerdict::Redirect ? kVerdictRedirect : kVerdictAllow;
}

size_t classOf(const Encoder& enc, size_t pod) {
  for (size_t c = 0; c < enc.classes().size(); ++c) {
    const auto& pods = enc.classes()[c].pods;
    if (std::find(pods.begin(), pods.end(), pod) != pods.end()) return c;
  }
  return 0;
}

// The constant endpoint for one end of a flow, as seen from the pod at the other end.
SymEndpoint fixedEnd(Encoder& enc, const model::Engine& engine, const model::FlowEndpoint& e,
                     const std::string& viewer_node, const std::string& name) {
  if (e.pod) return enc.fixedPod(name, classOf(enc, *e.pod));
  const model::IdentityId id = engine.resolve(e.ip, viewer_node);
  const model::Identity* ident = engine.cluster().identity(id);
  const bool address =
      id == model::kIdentityWorld || (ident != nullptr && ident->kind == model::IdentityKind::Cidr);
  return enc.fixedOther(name, address ? kKindExternal : static_cast<int64_t>(id), e.ip);
}

// Decides a closed formula: exactly one of e and not e must be satisfiable.
std::optional<bool> decide(smt::Context& ctx, smt::Expr e) {
  const bool can_true = ctx.checkAssuming({e}).status == smt::Status::Sat;
  const bool can_false = ctx.checkAssuming({ctx.mkNot(e)}).status == smt::Status::Sat;
  if (can_true == can_false) return std::nullopt;
  return can_true;
}

RC_GTEST_PROP(Agreement, SmtEqualsEvaluateEqualsCompiledLookup, ()) {
  const auto gen = *testing::genCluster();
  const auto loaded = testing::loadGenerated(gen);
  const model::Cluster& c = loaded.cluster;
  const model::Engine engine(c);
  Universe u;
  u.addRules(c);
  smt::Context ctx({.timeout_ms = 10000});
  Encoder enc(ctx, c, u);
  for (int i = 0; i < 8; ++i) {
    const model::Flow flow = *testing::genFlow(c);
    if (!flow.src.pod && !flow.dst.pod) continue;  // nothing enforced
    if (flow.src.pod && flow.dst.pod && *flow.src.pod == *flow.dst.pod) continue;  // loopback
    const model::Verdict v = engine.evaluate(flow);
    const std::string src_node = flow.src.pod ? c.pods[*flow.src.pod].node_name : "";
    const std::string dst_node = flow.dst.pod ? c.pods[*flow.dst.pod].node_name : "";
    SymFlow f{.src = fixedEnd(enc, engine, flow.src, dst_node, "src"),
              .dst = fixedEnd(enc, engine, flow.dst, src_node, "dst"),
              .proto = ctx.intVal(flow.protocol),
              .port = ctx.intVal(flow.port)};
    const auto smt_allowed = decide(ctx, enc.flowAllowed(f));
    RC_ASSERT(smt_allowed.has_value());
    RC_ASSERT(*smt_allowed == (v.allowed || v.l7_restricted));  // the encoding counts L7 in
    bool compiled_allowed = true;
    for (Direction dir : {Direction::Egress, Direction::Ingress}) {
      const bool egress = dir == Direction::Egress;
      const auto& self = egress ? flow.src : flow.dst;
      if (!self.pod) continue;
      const model::SideDecision& side = egress ? v.egress : v.ingress;
      const smt::Expr smt_side =
          enc.sideVerdict(dir, egress ? f.src : f.dst, egress ? f.dst : f.src, f.proto, f.port);
      RC_ASSERT(ctx.check().status == smt::Status::Sat);  // a model to evaluate the term in
      const int64_t smt_code = ctx.intValue(smt_side);
      const int64_t lookup = lookupCode(model::lookupMapState(
          engine.compile(*self.pod), side.peer_identity, dir, flow.protocol, flow.port));
      RC_ASSERT(smt_code == decisionCode(side));
      RC_ASSERT(lookup == decisionCode(side));
      compiled_allowed &= lookup != kVerdictDeny;
    }
    RC_ASSERT(compiled_allowed == (v.allowed || v.l7_restricted));
  }
}

}  // namespace
}  // namespace membrane::verify
