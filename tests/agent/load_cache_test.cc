// SPDX-License-Identifier: Apache-2.0
// LoadCache: an agent's reconcile copies the model of unchanged manifests instead of parsing
// them again; any change of a text, of a file name or of the cluster options loads anew.
#include <gtest/gtest.h>

#include "agent/desired.h"

namespace membrane::agent {
namespace {

const model::ManifestText kPod{
    "pods.yaml",
    "apiVersion: v1\nkind: Pod\nmetadata: {namespace: default, name: web, labels: {app: web}}\n"};
const model::ManifestText kOther{
    "other.yaml",
    "apiVersion: v1\nkind: Pod\nmetadata: {namespace: default, name: db, labels: {app: db}}\n"};

TEST(AgentLoadCache, UnchangedTextsAreCopiedChangedOnesLoaded) {
  LoadCache cache;
  const model::ClusterOptions opts{};
  auto a = cache.load({kPod}, opts);
  EXPECT_EQ(cache.hits(), 0u);
  ASSERT_TRUE(a.diags.ok());
  auto b = cache.load({kPod}, opts);
  EXPECT_EQ(cache.hits(), 1u);
  ASSERT_EQ(b.cluster.pods.size(), 1u);
  EXPECT_EQ(b.cluster.pods[0].ref(), "default/web");
  // A copy: changing it leaves the cached one alone.
  b.cluster.pods[0].labels["app"] = "changed";
  EXPECT_EQ(cache.load({kPod}, opts).cluster.pods[0].labels.at("app"), "web");
  EXPECT_EQ(cache.hits(), 2u);
  // A relabel is a new text: loaded, not served from the cache.
  model::ManifestText relabelled = kPod;
  relabelled.text.replace(relabelled.text.find("app: web"), 8, "app: api");
  EXPECT_EQ(cache.load({relabelled}, opts).cluster.pods[0].labels.at("app"), "api");
  EXPECT_EQ(cache.hits(), 2u);
  // Another file name or other cluster options: loaded.
  model::ManifestText renamed = kPod;
  renamed.name = "renamed.yaml";
  (void)cache.load({renamed}, opts);
  (void)cache.load({relabelled}, model::ClusterOptions{.name = "other", .id = 3});
  EXPECT_EQ(cache.hits(), 2u);
}

TEST(AgentLoadCache, TwoSlotsServeTheManifestsAndTheManifestsWithEndpoints) {
  LoadCache cache;
  const model::ClusterOptions opts{};
  (void)cache.load({kPod}, opts);
  (void)cache.load({kPod, kOther}, opts);
  EXPECT_EQ(cache.load({kPod}, opts).cluster.pods.size(), 1u);
  EXPECT_EQ(cache.load({kPod, kOther}, opts).cluster.pods.size(), 2u);
  EXPECT_EQ(cache.hits(), 2u);
}

// A miss parses only the texts that changed; the result equals a load from scratch, errors
// of a reused text included, and a text that is fixed is parsed again.
TEST(AgentLoadCache, AMissParsesOnlyChangedTexts) {
  LoadCache cache;
  const model::ClusterOptions opts{};
  const model::ManifestText policy{"np.yaml",
                                   "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                                   "metadata: {namespace: default, name: web}\n"
                                   "spec: {podSelector: {matchLabels: {app: web}}}\n"};
  (void)cache.load({kPod, kOther, policy}, opts);
  EXPECT_EQ(cache.parsed(), 3u);
  model::ManifestText changed = policy;
  changed.text.replace(changed.text.find("app: web"), 8, "app: db");
  auto r = cache.load({kPod, kOther, changed}, opts);
  EXPECT_EQ(cache.parsed(), 4u);  // only the policy
  auto fresh = model::loadClusterFromTexts({kPod, kOther, changed}, opts);
  ASSERT_TRUE(r.diags.ok());
  ASSERT_EQ(r.cluster.pods.size(), fresh.cluster.pods.size());
  EXPECT_EQ(r.cluster.policies.policy_count, 1u);
  ASSERT_EQ(r.cluster.policies.rules.size(), fresh.cluster.policies.rules.size());
  for (size_t i = 0; i < r.cluster.policies.rules.size(); ++i) {
    // The changed text's rule, not the first parse's: the subject is app=db now.
    EXPECT_EQ(r.cluster.policies.rules[i].describe(), fresh.cluster.policies.rules[i].describe());
    EXPECT_EQ(r.cluster.policies.rules[i].subject.str(),
              fresh.cluster.policies.rules[i].subject.str());
    EXPECT_NE(r.cluster.policies.rules[i].subject.str().find("db"), std::string::npos)
        << r.cluster.policies.rules[i].subject.str();
  }
  // A broken text: its error is reported at every load that contains it, reused or not.
  const model::ManifestText broken{"broken.yaml", "kind: Pod\nmetadata: {name: [x\n"};
  EXPECT_FALSE(cache.load({kPod, broken}, opts).diags.ok());
  EXPECT_FALSE(cache.load({kOther, kPod, broken}, opts).diags.ok());
  EXPECT_EQ(cache.parsed(), 5u);
  // Two texts defining the same object stay an error when both are reused.
  model::ManifestText twin = kPod;
  twin.name = "twin.yaml";
  (void)cache.load({kPod, twin}, opts);
  auto dup = cache.load({kOther, kPod, twin}, opts);
  EXPECT_FALSE(dup.diags.ok());
}

}  // namespace
}  // namespace membrane::agent
