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

}  // namespace
}  // namespace membrane::agent
