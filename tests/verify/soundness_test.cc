// SPDX-License-Identifier: Apache-2.0
// Soundness of `scope: any` (RapidCheck): for generated policies and invariants,
// - "holds" means no generated concrete cluster (the verified pods plus random pods with
//   random labels, namespaces and named ports) has a flow that violates the invariant in
//   model::Engine (exhaustive enumeration, tests/verify/enumerate.h);
// - "violated" means the witness, made into pods by --emit-scenario's code and loaded as
//   manifests, violates it in model::Engine;
// - the encoder's selector pruning (VerifyOptions::prune_rules) changes no answer.
// A failure prints the policy YAML and the invariant YAML (RC_LOG) of the shrunk case, ready
// for a unit test. Cases per run: RC_PARAMS (tests/verify/CMakeLists.txt: 2 x 500).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <sstream>

#include "model/l7_decide.h"
#include "model/loader.h"
#include "tests/support/cluster_gen.h"
#include "tests/verify/enumerate.h"
#include "tests/verify/soundness_gen.h"
#include "verify/verifier.h"

namespace membrane::verify {
namespace {

using namespace soundness;  // NOLINT(google-build-using-namespace)

// The witness of a violated invariant, as pods in manifests, violates it in the engine.
void checkWitnessAsPods(const Case& k, const model::Cluster& base, const InvariantResult& r) {
  RC_ASSERT(r.witness.has_value());
  RC_ASSERT(r.witness->agrees());
  const auto cw = concreteWitness(k, base, r);
  RC_CLASSIFY(!cw, "witness not replayable as pods");
  if (!cw) return;
  const model::Engine engine(cw->loaded.cluster);
  const model::Verdict v = engine.evaluate(cw->flow);
  const bool l7 = v.l7_restricted;
  RC_LOG() << "engine on the concrete witness: allowed=" << v.allowed << " l7=" << l7 << "\n";
  RC_ASSERT(l7 || v.allowed == (k.inv.expect == Expect::Deny));
}

RC_GTEST_PROP(Soundness, ScopeAnyAnswersHoldInConcreteClusters, ()) {
  const Case k = genCase();
  const auto base = load(k.base);
  Verifier v(base.cluster, {.timeout_ms = 10000});
  const InvariantResult r = v.check(k.inv);
  RC_LOG() << "verify: " << outcomeName(r.outcome) << " " << r.reason << "\n";
  RC_ASSERT(r.outcome != Outcome::Unknown);
  RC_ASSERT(r.outcome != Outcome::InternalError);
  RC_CLASSIFY(r.outcome == Outcome::Holds, "holds");
  RC_CLASSIFY(r.outcome == Outcome::Violated, "violated");
  RC_CLASSIFY(r.outcome == Outcome::Vacuous, "vacuous");
  if (r.outcome == Outcome::Violated) {
    checkWitnessAsPods(k, base.cluster, r);
    return;
  }
  // Holds or vacuous: no concrete cluster has a violating flow.
  const std::string more = *genPods("c", 100, 1, 5);
  RC_LOG() << "# concrete pods added\n" << more;
  const auto concrete = load(k.base + more);
  const auto violation = oracle::findViolation(concrete.cluster, k.inv);
  if (violation) RC_FAIL("concrete violation: " + violation->str(concrete.cluster));
}

RC_GTEST_PROP(Soundness, SelectorPruningChangesNoAnswer, ()) {
  const Case k = genCase();
  const auto base = load(k.base);
  Verifier pruned(base.cluster, {.timeout_ms = 10000});
  Verifier full(base.cluster, {.timeout_ms = 10000, .prune_rules = false});
  const InvariantResult a = pruned.check(k.inv);
  const InvariantResult b = full.check(k.inv);
  RC_LOG() << "pruned: " << outcomeName(a.outcome) << " " << a.reason
           << "\nunpruned: " << outcomeName(b.outcome) << " " << b.reason << "\n";
  RC_ASSERT(a.outcome != Outcome::Unknown);
  RC_ASSERT(a.outcome == b.outcome);
  // Both witnesses are real (replayed in the engine); L7-ness is part of the answer.
  if (a.witness) RC_ASSERT(a.witness->agrees() && b.witness->agrees());
}

// The same with an HTTP request on the invariant (the generated policies carry HTTP rules
// `GET /x`, DNS and Kafka rules): the encoding's answer for the request agrees with
// model::decideHttp on the witness, a violation's witness pods violate it in the engine, and
// when it holds no concrete cluster has a flow that answers the request otherwise.
RC_GTEST_PROP(Soundness, HttpRequestAnswersHoldInConcreteClusters, ()) {
  Case k = genCase();
  const std::string method = *rc::gen::element<std::string>("GET", "POST");
  const std::string path = *rc::gen::element<std::string>("/x", "/y");
  k.inv.http = model::HttpRequest{.method = method, .target = path};
  std::vector<PortRange> tcp;
  for (const auto& p : k.inv.ports) {
    if (p.protocol == model::kProtoTCP || p.protocol == model::kProtoAny) {
      tcp.push_back({.protocol = model::kProtoTCP, .port = p.port, .end_port = p.end_port});
    }
  }
  k.inv.ports = tcp;  // none left: every TCP port
  RC_LOG() << "# with http: {method: " << method << ", path: " << path << "}, TCP ports only\n";
  const auto base = load(k.base);
  Verifier v(base.cluster, {.timeout_ms = 10000});
  const InvariantResult r = v.check(k.inv);
  RC_LOG() << "verify: " << outcomeName(r.outcome) << " " << r.reason << "\n";
  RC_ASSERT(r.outcome != Outcome::Unknown);
  RC_ASSERT(r.outcome != Outcome::InternalError);
  RC_CLASSIFY(r.outcome == Outcome::Holds, "holds");
  RC_CLASSIFY(r.outcome == Outcome::Violated, "violated");
  if (r.outcome == Outcome::Violated) {
    RC_ASSERT(r.witness.has_value() && r.witness->agrees());
    RC_ASSERT(r.witness->engine_request.has_value());
    const auto cw = concreteWitness(k, base.cluster, r);
    RC_CLASSIFY(!cw, "witness not replayable as pods");
    if (!cw) return;
    const model::Engine engine(cw->loaded.cluster);
    const model::Verdict verdict = engine.evaluate(cw->flow);
    RC_ASSERT(model::decideHttp(engine, cw->flow, verdict, *k.inv.http).allowed ==
              (k.inv.expect == Expect::Deny));
    return;
  }
  if (r.outcome != Outcome::Holds) return;
  const std::string more = *genPods("c", 100, 1, 5);
  RC_LOG() << "# concrete pods added\n" << more;
  const auto concrete = load(k.base + more);
  const auto violation = oracle::findViolation(concrete.cluster, k.inv);
  if (violation) RC_FAIL("concrete violation: " + violation->str(concrete.cluster));
}

}  // namespace
}  // namespace membrane::verify
