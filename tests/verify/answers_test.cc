// SPDX-License-Identifier: Apache-2.0
// The verifier's answers beyond holds/violated: an internal error when the encoding and
// the engine disagree (exit 4).
#include <gtest/gtest.h>

#include <sstream>

#include "model/loader.h"
#include "verify/report.h"
#include "verify/verifier.h"

namespace membrane::verify {
namespace {

constexpr const char* kCluster = R"(
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {env: prod}}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: prod, labels: {app: db}}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: prod, labels: {app: api}}
status: {podIP: 10.0.0.3}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db, namespace: prod}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: api}}]
    toPorts: [{ports: [{port: "5432", protocol: TCP}]}]
)";

model::LoadResult load(const char* text = kCluster) {
  auto loaded = model::loadClusterFromTexts({{"c.yaml", text}});
  EXPECT_TRUE(loaded.diags.ok());
  return loaded;
}

InvariantFile invariants(const std::string& body) {
  model::Diagnostics diags;
  InvariantFile f = parseInvariants(
      "inv.yaml", "apiVersion: membrane/v1\nkind: Invariants\ninvariants:\n" + body, diags);
  EXPECT_TRUE(diags.ok());
  return f;
}

TEST(Answers, EngineDisagreementIsAnInternalErrorWithBothAnswers) {
  const auto loaded = load();
  const InvariantFile f = invariants(R"(
  - name: api-cannot-reach-db
    expect: deny
    from: {namespace: prod, podSelector: {matchLabels: {app: api}}}
    to: {pod: prod/db}
    ports: [{port: 5432}]
)");
  ASSERT_EQ(f.invariants.size(), 1u);
  // Unperturbed: a real violation, exit 1.
  Verifier honest(loaded.cluster);
  const InvariantResult r1 = honest.check(f.invariants[0]);
  EXPECT_EQ(r1.outcome, Outcome::Violated);
  EXPECT_EQ(exitCode({r1}, nullptr), kVerifyExitFailed);
  // The seam flips the engine's verdict: the encoding says allowed, the engine denied.
  Verifier liar(loaded.cluster,
                {.perturb_witness = [](Witness& w) { w.verdict.allowed = !w.verdict.allowed; }});
  const InvariantResult r2 = liar.check(f.invariants[0]);
  ASSERT_EQ(r2.outcome, Outcome::InternalError) << r2.reason;
  ASSERT_TRUE(r2.witness);
  EXPECT_EQ(exitCode({r1, r2}, nullptr), kVerifyExitInternal);
  std::ostringstream text;
  printText(text, loaded.cluster, {r2});
  EXPECT_NE(text.str().find("INTERNAL ERROR  api-cannot-reach-db"), std::string::npos);
  EXPECT_NE(text.str().find("SMT encoding: allowed"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("model::Engine: denied"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("witness flow: TCP 5432"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("CiliumNetworkPolicy prod/db spec.ingress[0]"), std::string::npos)
      << text.str();
  std::ostringstream json;
  printJson(json, loaded.cluster, {r2}, nullptr);
  EXPECT_NE(json.str().find(R"("result": "internal-error")"), std::string::npos) << json.str();
  EXPECT_NE(json.str().find(R"("smt": "allowed", "engine": "denied")"), std::string::npos);
  std::ostringstream junit;
  printJunit(junit, loaded.cluster, {r2}, nullptr, "s");
  EXPECT_NE(junit.str().find("errors=\"1\""), std::string::npos) << junit.str();
}

TEST(Answers, ExitCodePrecedence) {
  InvariantResult held{.outcome = Outcome::Holds};
  InvariantResult failed{.outcome = Outcome::Violated};
  InvariantResult unknown{.outcome = Outcome::Unknown};
  InvariantResult internal{.outcome = Outcome::InternalError};
  EXPECT_EQ(exitCode({held}, nullptr), kVerifyExitOk);
  EXPECT_EQ(exitCode({held, unknown}, nullptr), kVerifyExitUnknown);
  EXPECT_EQ(exitCode({unknown, failed}, nullptr), kVerifyExitFailed);
  EXPECT_EQ(exitCode({failed, internal, unknown}, nullptr), kVerifyExitInternal);
  CompiledResult compiled{.mismatches = {CompiledMismatch{}}};
  EXPECT_EQ(exitCode({held}, &compiled), kVerifyExitInternal);
}

}  // namespace
}  // namespace membrane::verify
