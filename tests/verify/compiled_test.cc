// SPDX-License-Identifier: Apache-2.0
// Translation validation: compiled map state == rule semantics, and the check catches a
// corrupted map state with a concrete counterexample.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <sstream>

#include "tests/support/cluster_gen.h"
#include "verify/report.h"
#include "verify/verifier.h"

namespace membrane::verify {
namespace {

RC_GTEST_PROP(Compiled, CompiledMapStateMatchesTheRules, ()) {
  const auto gen = *testing::genCluster();
  const auto loaded = testing::loadGenerated(gen);
  Verifier v(loaded.cluster, {.timeout_ms = 10000});
  const CompiledResult r = v.checkCompiled();
  RC_ASSERT(r.unknown.empty());
  if (!r.mismatches.empty()) {
    const auto& m = r.mismatches.front();
    RC_FAIL(loaded.cluster.pods[m.pod].ref() + " " +
            std::string(model::directionName(m.direction)) + " peer " + std::to_string(m.peer) +
            " proto " + std::to_string(m.protocol) + " port " + std::to_string(m.port) +
            ": rules " + std::string(verdictName(m.rule_verdict)) + ", map " +
            std::string(verdictName(m.map_verdict)));
  }
  RC_ASSERT(r.endpoints > 0u);
}

constexpr const char* kCluster = R"(
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
  ingressDeny:
  - fromEntities: [world]
)";

TEST(Compiled, CatchesACorruptedMapState) {
  auto loaded = model::loadClusterFromTexts({{"c.yaml", kCluster}});
  ASSERT_TRUE(loaded.diags.ok());
  Verifier v(loaded.cluster);
  ASSERT_TRUE(v.checkCompiled().mismatches.empty());
  // Widen the 5432 entry to the whole of TCP: the map now allows what the rules deny.
  const CompiledResult widened = v.checkCompiled([](const model::Engine& e, size_t pod) {
    model::MapState ms = e.compile(pod);
    model::MapState out = ms;
    out.entries.clear();
    for (const auto& [key, val] : ms.entries) {
      model::MapKey k = key;
      if (k.port == 5432) {
        k.port = 0;
        k.prefix_len = model::kPrefixProtoOnly;
      }
      out.entries[k] = val;
    }
    return out;
  });
  ASSERT_EQ(widened.mismatches.size(), 1u);
  const CompiledMismatch& m = widened.mismatches[0];
  EXPECT_EQ(loaded.cluster.pods[m.pod].name, "db");
  EXPECT_EQ(m.direction, model::Direction::Ingress);
  EXPECT_EQ(m.protocol, model::kProtoTCP);
  EXPECT_NE(m.port, 5432);
  EXPECT_EQ(m.rule_verdict, kVerdictDeny);
  EXPECT_EQ(m.map_verdict, kVerdictAllow);
  // The engine sides with the rules, and the disagreement is an internal error (exit 4)
  // that prints all three answers.
  EXPECT_EQ(m.engine_verdict, kVerdictDeny);
  EXPECT_EQ(exitCode({}, &widened), kVerifyExitInternal);
  std::ostringstream text;
  printCompiledText(text, loaded.cluster, widened);
  EXPECT_NE(text.str().find("rules (SMT) say deny, compiled map says allow, model::Engine says "
                            "deny"),
            std::string::npos)
      << text.str();
  // Dropping the deny entries: world is allowed nowhere by the rules either way (default
  // deny), so this corruption is harmless and must not be reported.
  const CompiledResult no_deny = v.checkCompiled([](const model::Engine& e, size_t pod) {
    model::MapState ms = e.compile(pod);
    std::erase_if(ms.entries,
                  [](const auto& kv) { return kv.second.verdict == model::EntryVerdict::Deny; });
    return ms;
  });
  EXPECT_TRUE(no_deny.mismatches.empty());
}

}  // namespace
}  // namespace membrane::verify
