// SPDX-License-Identifier: Apache-2.0
// Manifest sets follow `kubectl apply`: a later set's object replaces the earlier one with the
// same kind, namespace and name; the same identity twice in one set is an error naming both.
#include "model/manifest_set.h"

#include <gtest/gtest.h>

#include "model/loader.h"

namespace membrane::model {
namespace {

std::string errors(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.diags.errors()) s += e.str() + "\n";
  return s;
}

std::string pod(const std::string& name, const std::string& app, const std::string& ip,
                const std::string& ns = "shop") {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: " + ns +
         ", labels: {app: " + app + "}}\nstatus: {podIP: " + ip + "}\n";
}

std::string policy(const std::string& from_app) {
  return "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: db, namespace: "
         "shop}\nspec:\n  endpointSelector: {matchLabels: {app: db}}\n  ingress:\n"
         "  - fromEndpoints: [{matchLabels: {app: " +
         from_app + "}}]\n";
}

TEST(ObjectIdentity, KindNamespaceName) {
  EXPECT_EQ(objectIdentity(YAML::Load("{kind: Pod, metadata: {name: a, namespace: x}}")),
            "Pod/x/a");
  EXPECT_EQ(objectIdentity(YAML::Load("{kind: Pod, metadata: {name: a}}")), "Pod/default/a");
  EXPECT_EQ(objectIdentity(YAML::Load("{kind: Namespace, metadata: {name: x}}")), "Namespace/x");
  EXPECT_EQ(objectIdentity(YAML::Load("{kind: Pod}")), "");
  EXPECT_EQ(objectIdentity(YAML::Load("{metadata: {name: a}}")), "");
  EXPECT_EQ(objectIdentity(YAML::Load("[1, 2]")), "");
}

TEST(ManifestSets, LaterSetReplacesThePod) {
  auto r = loadClusterFromSets({{{"initial.yaml", pod("a", "web", "10.0.0.1")}},
                                {{"step.yaml", pod("a", "api", "10.0.0.9")}}});
  ASSERT_TRUE(r.diags.ok()) << errors(r);
  ASSERT_EQ(r.cluster.pods.size(), 1u);
  const Pod& p = r.cluster.pods[*r.cluster.findPod("shop", "a")];
  EXPECT_EQ(p.labels.at("app"), "api");
  EXPECT_EQ(p.ip, parseIpv4("10.0.0.9"));
}

TEST(ManifestSets, LaterSetReplacesThePolicyInsteadOfAddingRules) {
  const std::string pods = pod("db", "db", "10.0.0.3") + "---\n" + pod("web", "web", "10.0.0.1");
  auto once = loadClusterFromSets({{{"m.yaml", pods + "---\n" + policy("api")}}});
  auto replaced = loadClusterFromSets(
      {{{"m.yaml", pods + "---\n" + policy("web")}}, {{"step.yaml", policy("api")}}});
  ASSERT_TRUE(once.diags.ok()) << errors(once);
  ASSERT_TRUE(replaced.diags.ok()) << errors(replaced);
  EXPECT_EQ(replaced.cluster.policies.policy_count, 1u);
  EXPECT_EQ(replaced.cluster.policies.rules.size(), once.cluster.policies.rules.size());
}

TEST(ManifestSets, DifferentKindsOrNamespacesDoNotCollide) {
  auto r = loadClusterFromTexts(
      {{"a.yaml", pod("a", "web", "10.0.0.1") + "---\n" + pod("a", "web", "10.0.0.2", "other") +
                      "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a, namespace: "
                      "shop}\nspec: {replicas: 1, template: {metadata: {labels: {app: x}}}}\n"}});
  EXPECT_TRUE(r.diags.ok()) << errors(r);
}

TEST(ManifestSets, DuplicateInOneFileNamesBothPlaces) {
  auto r = loadClusterFromTexts(
      {{"m.yaml", pod("a", "web", "10.0.0.1") + "---\n" + pod("a", "api", "10.0.0.2")}});
  ASSERT_FALSE(r.diags.ok());
  const std::string e = errors(r);
  EXPECT_NE(e.find("Pod/shop/a"), std::string::npos) << e;
  EXPECT_NE(e.find("first at m.yaml:1:1, again at m.yaml:6:1"), std::string::npos) << e;
}

TEST(ManifestSets, DuplicateAcrossFilesOfOneSetIsAnError) {
  auto r = loadClusterFromSets({{{"a.yaml", policy("web")}, {"b.yaml", policy("api")}}});
  ASSERT_FALSE(r.diags.ok());
  const std::string e = errors(r);
  EXPECT_NE(e.find("CiliumNetworkPolicy/shop/db"), std::string::npos) << e;
  EXPECT_NE(e.find("first at a.yaml:1:1, again at b.yaml:1:1"), std::string::npos) << e;
}

TEST(ManifestSets, OmittedNamespaceIsDefault) {
  auto r = loadClusterFromTexts(
      {{"m.yaml", pod("a", "web", "10.0.0.1", "default") +
                      "---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\n"}});
  EXPECT_NE(errors(r).find("Pod/default/a"), std::string::npos) << errors(r);
}

TEST(ManifestSets, ListItemsCountOneByOne) {
  auto r = loadClusterFromTexts(
      {{"l.yaml",
        "apiVersion: v1\nkind: PodList\nitems:\n- metadata: {name: a, namespace: shop}\n"
        "- metadata: {name: a, namespace: shop}\n"}});
  EXPECT_NE(errors(r).find("first at l.yaml:4:3, again at l.yaml:5:3"), std::string::npos)
      << errors(r);
}

TEST(ManifestSets, DuplicateInALaterSetIsAnErrorToo) {
  auto r = loadClusterFromSets(
      {{{"m.yaml", pod("a", "web", "10.0.0.1")}},
       {{"s.yaml", pod("b", "x", "10.0.0.2") + "---\n" + pod("b", "y", "10.0.0.3")}}});
  EXPECT_NE(errors(r).find("first at s.yaml:1:1, again at s.yaml:6:1"), std::string::npos)
      << errors(r);
}

}  // namespace
}  // namespace membrane::model
