// SPDX-License-Identifier: Apache-2.0
// The verifier's answers beyond holds/violated: an internal error when the encoding and
// the engine disagree (exit 4), vacuous invariants, L7-restricted flows.
#include <gtest/gtest.h>

#include <sstream>

#include "model/loader.h"
#include "verify/emit.h"
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

InvariantResult checkOne(const model::Cluster& c, const std::string& body, Verifier* v = nullptr) {
  static std::vector<InvariantFile> keep;  // results point into their invariant
  keep.push_back(invariants(body));
  EXPECT_EQ(keep.back().invariants.size(), 1u);
  Verifier local(c);
  return (v ? *v : local).check(keep.back().invariants.at(0));
}

// One contradiction per case; each must be VACUOUS and fail the run, and each becomes
// satisfiable (not vacuous) when the contradicting requirement is dropped.
TEST(Vacuity, ContradictoryEndsAreVacuous) {
  const auto loaded = load();
  const std::string to = "    to: {namespace: prod}\n";
  const char* contradictions[] = {
      // In and NotIn of the same value
      "    from: {podSelector: {matchExpressions: [{key: app, operator: In, values: [a]}, "
      "{key: app, operator: NotIn, values: [a]}]}}\n",
      // two different values for one key
      "    from: {podSelector: {matchLabels: {app: a}, matchExpressions: [{key: app, operator: "
      "In, values: [b]}]}}\n",
      // Exists and DoesNotExist
      "    from: {podSelector: {matchExpressions: [{key: tier, operator: Exists}, {key: tier, "
      "operator: DoesNotExist}]}}\n",
      // a declared namespace whose labels the namespace selector contradicts
      "    from: {namespace: prod, namespaceSelector: {matchLabels: {env: staging}}}\n",
      // a namespace selector no namespace can satisfy
      "    from: {namespaceSelector: {matchExpressions: [{key: env, operator: In, values: [x]}, "
      "{key: env, operator: In, values: [y]}]}}\n",
  };
  for (const char* from : contradictions) {
    const InvariantResult r =
        checkOne(loaded.cluster, "  - name: v\n    expect: deny\n" + std::string(from) + to);
    EXPECT_EQ(r.outcome, Outcome::Vacuous) << from << r.reason;
    EXPECT_TRUE(fails(r));
    EXPECT_EQ(exitCode({r}, nullptr), kVerifyExitFailed);
    EXPECT_NE(r.reason.find("from matches nothing that could exist"), std::string::npos)
        << r.reason;
    // The same contradiction on the other end.
    const InvariantResult r2 =
        checkOne(loaded.cluster, "  - name: v\n    expect: allow\n    from: {namespace: prod}\n" +
                                     std::string(from).replace(4, 5, "to:"));
    EXPECT_EQ(r2.outcome, Outcome::Vacuous) << r2.reason;
    EXPECT_NE(r2.reason.find("to matches nothing"), std::string::npos) << r2.reason;
  }
  // Controls: a single requirement, an undeclared namespace (it could be created).
  for (const char* from :
       {"    from: {podSelector: {matchLabels: {app: a}}}\n", "    from: {namespace: nope}\n"}) {
    const InvariantResult r =
        checkOne(loaded.cluster, "  - name: ok\n    expect: deny\n" + std::string(from) + to);
    EXPECT_NE(r.outcome, Outcome::Vacuous) << from;
  }
}

TEST(Vacuity, ScopeExistingNeedsAnExistingPod) {
  const auto loaded = load();
  const InvariantResult none = checkOne(loaded.cluster, R"(
  - name: ns-does-not-exist
    expect: deny
    scope: existing
    from: {namespace: nope}
    to: {namespace: prod}
)");
  EXPECT_EQ(none.outcome, Outcome::Vacuous) << none.reason;
  EXPECT_NE(none.reason.find("from matches nothing that exists"), std::string::npos);
  const InvariantResult label = checkOne(loaded.cluster, R"(
  - name: no-such-pod-today
    expect: deny
    scope: existing
    from: {namespace: prod}
    to: {podSelector: {matchLabels: {app: web}}}
)");
  EXPECT_EQ(label.outcome, Outcome::Vacuous) << label.reason;
  const InvariantResult some = checkOne(loaded.cluster, R"(
  - name: api-exists
    expect: deny
    scope: existing
    from: {podSelector: {matchLabels: {app: api}}}
    to: {namespace: prod}
)");
  EXPECT_EQ(some.outcome, Outcome::Violated) << some.reason;
}

TEST(Vacuity, NoFlowBetweenTheEnds) {
  const auto loaded = load();
  const InvariantResult r = checkOne(loaded.cluster, R"(
  - name: world-to-host
    expect: deny
    from: {entity: world}
    to: {entity: host}
)");
  EXPECT_EQ(r.outcome, Outcome::Vacuous) << r.reason;
  EXPECT_NE(r.reason.find("no flow from entity world to entity host"), std::string::npos);
}

TEST(Vacuity, AllowVacuousPassesAndSaysSo) {
  const auto loaded = load();
  const InvariantResult r = checkOne(loaded.cluster, R"(
  - name: legacy-tier-stays-gone
    expect: deny
    allowVacuous: true
    from: {podSelector: {matchExpressions: [{key: tier, operator: Exists}, {key: tier, operator: DoesNotExist}]}}
    to: {namespace: prod}
)");
  EXPECT_EQ(r.outcome, Outcome::Vacuous);
  EXPECT_FALSE(fails(r));
  EXPECT_EQ(exitCode({r}, nullptr), kVerifyExitOk);
  std::ostringstream text, json, junit;
  printText(text, loaded.cluster, {r});
  EXPECT_NE(text.str().find("VACUOUS (allowed)  legacy-tier-stays-gone"), std::string::npos);
  printJson(json, loaded.cluster, {r}, nullptr);
  EXPECT_NE(json.str().find(R"("result": "vacuous")"), std::string::npos) << json.str();
  EXPECT_NE(json.str().find(R"("fails": false)"), std::string::npos) << json.str();
  printJunit(junit, loaded.cluster, {r}, nullptr, "s");
  EXPECT_NE(junit.str().find("failures=\"0\""), std::string::npos) << junit.str();
}

TEST(Vacuity, VacuousIsAJunitFailure) {
  const auto loaded = load();
  const InvariantResult r = checkOne(loaded.cluster, R"(
  - name: contradiction
    expect: deny
    from: {podSelector: {matchLabels: {app: a}, matchExpressions: [{key: app, operator: NotIn, values: [a]}]}}
)");
  ASSERT_EQ(r.outcome, Outcome::Vacuous);
  std::ostringstream text, junit;
  printText(text, loaded.cluster, {r});
  EXPECT_NE(text.str().find("VACUOUS  contradiction"), std::string::npos) << text.str();
  printJunit(junit, loaded.cluster, {r}, nullptr, "s");
  EXPECT_NE(junit.str().find("<failure message=\"from matches nothing"), std::string::npos)
      << junit.str();
}

TEST(Vacuity, UnknownInvariantFieldsAreStillRejected) {
  model::Diagnostics diags;
  parseInvariants("inv.yaml", R"(apiVersion: membrane/v1
kind: Invariants
invariants:
  - name: typo
    expect: deny
    allowVacuos: true
)",
                  diags);
  ASSERT_FALSE(diags.ok());
  std::ostringstream o;
  for (const auto& d : diags.errors()) o << d.str() << "\n";
  EXPECT_NE(o.str().find("inv.yaml:6:5"), std::string::npos) << o.str();
  EXPECT_NE(o.str().find("allowVacuos"), std::string::npos) << o.str();
  model::Diagnostics bad_type;
  parseInvariants("inv.yaml", R"(apiVersion: membrane/v1
kind: Invariants
invariants:
  - name: t
    expect: deny
    allowVacuous: maybe
)",
                  bad_type);
  EXPECT_FALSE(bad_type.ok());
}

constexpr const char* kL7Cluster = R"(
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: prod, labels: {app: web}}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: prod, labels: {app: api}}
status: {podIP: 10.0.0.3}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-l7, namespace: prod}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: api}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules: {http: [{method: GET, path: "/"}]}
  - fromEndpoints: [{matchLabels: {app: api}}]
    toPorts: [{ports: [{port: "81", protocol: TCP}]}]
)";

TEST(L7, AnExpectationOnAnL7DecidedFlowFails) {
  const auto loaded = load(kL7Cluster);
  for (const char* expect : {"allow", "deny"}) {
    for (const char* scope : {"any", "existing"}) {
      const InvariantResult r = checkOne(loaded.cluster, std::string(R"(
  - name: api-to-web
    expect: )") + expect + "\n    scope: " + scope + R"(
    from: {namespace: prod, podSelector: {matchLabels: {app: api}}}
    to: {pod: prod/web}
    ports: [{port: 80}]
)");
      ASSERT_EQ(r.outcome, Outcome::Violated) << expect << " " << scope << ": " << r.reason;
      EXPECT_EQ(r.reason.rfind("L7-restricted", 0), 0u) << r.reason;
      EXPECT_NE(
          r.reason.find(
              "http: CiliumNetworkPolicy prod/web-l7 spec.ingress[0].toPorts[0] (c.yaml:20:7)"),
          std::string::npos)
          << r.reason;
      ASSERT_TRUE(r.witness);
      EXPECT_TRUE(r.witness->smt_l7);
      EXPECT_TRUE(r.witness->engineL7());
      EXPECT_EQ(r.witness->port, 80);
    }
  }
  // Port 81 is a plain allow: the same invariant holds there.
  const InvariantResult plain = checkOne(loaded.cluster, R"(
  - name: api-to-web-81
    expect: allow
    scope: existing
    from: {podSelector: {matchLabels: {app: api}}}
    to: {pod: prod/web}
    ports: [{port: 81}]
)");
  EXPECT_EQ(plain.outcome, Outcome::Holds) << plain.reason;
  // A deny invariant over every port finds the L7 flow or the plain one, never holds.
  const InvariantResult all = checkOne(loaded.cluster, R"(
  - name: api-never-reaches-web
    expect: deny
    from: {podSelector: {matchLabels: {app: api}}}
    to: {pod: prod/web}
)");
  EXPECT_EQ(all.outcome, Outcome::Violated);
}

TEST(Emit, L7RestrictedWitnessesAreNotEmitted) {
  const auto loaded = load(kL7Cluster);
  const InvariantResult r = checkOne(loaded.cluster, R"(
  - name: api-to-web
    expect: deny
    from: {namespace: prod, podSelector: {matchLabels: {app: api}}}
    to: {pod: prod/web}
    ports: [{port: 80}]
)");
  ASSERT_EQ(r.outcome, Outcome::Violated);
  std::string why;
  EXPECT_FALSE(emittedScenario(loaded.cluster, r, &why));
  EXPECT_NE(why.find("L7-restricted"), std::string::npos) << why;
}

TEST(Emit, ExternalWitnessIsAPeerWithAnOrdinaryAddress) {
  const auto loaded = load();
  const InvariantResult r = checkOne(loaded.cluster, R"(
  - name: world-cannot-reach-api
    expect: deny
    from: {entity: world}
    to: {pod: prod/api}
)");
  ASSERT_EQ(r.outcome, Outcome::Violated) << r.reason;
  std::string why;
  auto s = emittedScenario(loaded.cluster, r, &why);
  ASSERT_TRUE(s) << why;
  EXPECT_EQ(s->name, "world-cannot-reach-api");
  EXPECT_TRUE(s->witness_yaml.empty());  // both ends exist: no witness pods
  EXPECT_NE(s->expect_yaml.find("peers:\n  witness-src: \""), std::string::npos) << s->expect_yaml;
  EXPECT_EQ(s->expect_yaml.find("\"0."), std::string::npos) << s->expect_yaml;
  EXPECT_NE(s->expect_yaml.find("from\\to  prod/api\n          witness-src  X\n"),
            std::string::npos)
      << s->expect_yaml;
  EXPECT_EQ(s->expect_yaml.find("apply:"), std::string::npos) << s->expect_yaml;
}

// Every namespace carries kubernetes.io/metadata.name = its name, also one that no manifest
// declares: a namespace selector requiring that label to be absent matches nothing, so no pod
// of a namespace that could exist reaches the db through it (found by the soundness property:
// the encoding used to let a hypothetical namespace lack the label).
TEST(Answers, NamespaceNameLabelIsAlwaysPresent) {
  const std::string cluster = std::string(kCluster) + R"(---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: odd, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: kubernetes.io/metadata.name, operator: DoesNotExist}]
    ports: [{port: 7000, protocol: TCP}]
)";
  const auto loaded = load(cluster.c_str());
  const InvariantFile f = invariants(R"(
  - name: nothing-reaches-db-on-7000
    expect: deny
    from: {namespaceSelector: {}}
    to: {namespace: prod, podSelector: {matchLabels: {app: db}}}
    ports: [{port: 7000}]
  - name: nothing-in-qa-reaches-db-on-7000
    expect: deny
    from: {namespace: qa}
    to: {namespace: prod, podSelector: {matchLabels: {app: db}}}
    ports: [{port: 7000}]
  - name: named-namespace-is-its-label
    expect: deny
    from: {namespace: qa, namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: dev}}}
    to: {namespace: prod, podSelector: {matchLabels: {app: db}}}
    allowVacuous: false
)");
  Verifier v(loaded.cluster);
  const InvariantResult r = v.check(f.invariants.at(0));
  EXPECT_EQ(r.outcome, Outcome::Holds) << r.reason;
  // A namespace a selector names (qa) that no label selector names still carries the label.
  const InvariantResult qa = v.check(f.invariants.at(1));
  EXPECT_EQ(qa.outcome, Outcome::Holds) << qa.reason;
  // A namespace named qa cannot carry metadata.name=dev: the end matches nothing.
  EXPECT_EQ(v.check(f.invariants.at(2)).outcome, Outcome::Vacuous);
}

// One namespace is one object: two pods of namespace qa (declared or not) carry the same
// namespace labels, so ends that demand different labels of qa match no flow (VACUOUS).
// The encoding used to let each end pick its own labels for an undeclared namespace, and the
// witness then disagreed with the engine (exit 4; found by the BPF soundness property).
TEST(Answers, OneNamespaceHasOneLabelSet) {
  const auto loaded = load();
  const InvariantFile f = invariants(R"(
  - name: qa-to-qa
    expect: deny
    from: {namespace: qa, namespaceSelector: {matchLabels: {team: a}}}
    to: {namespace: qa, namespaceSelector: {matchLabels: {team: b}}}
)");
  Verifier v(loaded.cluster);
  const InvariantResult r = v.check(f.invariants.at(0));
  EXPECT_EQ(r.outcome, Outcome::Vacuous) << outcomeName(r.outcome) << ": " << r.reason;
}

}  // namespace
}  // namespace membrane::verify
