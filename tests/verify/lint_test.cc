// SPDX-License-Identifier: Apache-2.0
#include "verify/lint.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "model/loader.h"

namespace membrane::verify {
namespace {

std::map<std::string, std::vector<std::string>> findingsOf(const std::string& yaml) {
  auto loaded = model::loadClusterFromTexts({{"lint.yaml", yaml}});
  EXPECT_TRUE(loaded.diags.ok());
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& f : lint(loaded.cluster)) {
    const auto& r = loaded.cluster.policies.rules[f.rule];
    out[std::string(lintKindName(f.kind))].push_back(r.policy_name + " " + r.path);
  }
  return out;
}

TEST(Lint, FindsEveryKindInTheScenario) {
  std::ifstream in(std::string(MEMBRANE_SOURCE_DIR) + "/scenarios/verify-lint/manifests.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  const auto f = findingsOf(ss.str());
  using V = std::vector<std::string>;
  EXPECT_EQ(f.at("shadowed"), V{"web spec.ingress[2]"});
  EXPECT_EQ(f.at("never-matches"), V{"web spec.ingressDeny[1]"});
  EXPECT_EQ(f.at("subject-selects-nothing"), V{"batch spec.egress[0]"});
  EXPECT_EQ(f.at("equivalent-policies"), V{"api-a spec.ingress[0]"});
  const V redundant = f.at("redundant");
  EXPECT_NE(std::find(redundant.begin(), redundant.end(), "web spec.ingress[0]"), redundant.end());
  EXPECT_EQ(std::find(redundant.begin(), redundant.end(), "web spec.ingress[1]"), redundant.end());
}

TEST(Lint, CleanPoliciesHaveNoFindings) {
  const auto f = findingsOf(R"(
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
status: {podIP: 10.0.0.2}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: a, namespace: x}
spec:
  endpointSelector: {matchLabels: {app: a}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: b}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
  ingressDeny:
  - fromEndpoints: [{matchLabels: {app: b}}]
    toPorts: [{ports: [{port: "22", protocol: TCP}]}]
)");
  EXPECT_TRUE(f.empty()) << f.begin()->first << ": " << f.begin()->second.front();
}

}  // namespace
}  // namespace membrane::verify
