// SPDX-License-Identifier: Apache-2.0
#include "model/identity_allocator.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "model/loader.h"

namespace membrane::model {
namespace {

TEST(InMemoryIdentityAllocator, SameSequenceSameNumbers) {
  const std::vector<std::string> seq = {"k8s:app=web", "k8s:app=db", "k8s:app=web", "k8s:app=x"};
  std::vector<IdentityId> a, b;
  InMemoryIdentityAllocator one(3), two(3);
  for (const auto& l : seq) a.push_back(one.allocate(l).id);
  for (const auto& l : seq) b.push_back(two.allocate(l).id);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a[0], a[2]);
  EXPECT_NE(a[0], a[1]);
  EXPECT_EQ(clusterIdOf(a[0]), 3u);
  EXPECT_EQ(a[0] & 0xFFFF, kMinimalAllocatedIdentity);
  EXPECT_EQ(one.references("k8s:app=web"), 2u);
}

TEST(InMemoryIdentityAllocator, RelabellingNeverRenumbersOthers) {
  InMemoryIdentityAllocator alloc;
  const IdentityId web = alloc.allocate("k8s:app=web").id;
  const IdentityId db = alloc.allocate("k8s:app=db").id;
  const IdentityId cache = alloc.allocate("k8s:app=cache").id;
  // The db pod is relabelled: its old set is released, the new one allocated.
  alloc.release("k8s:app=db");
  const IdentityId db2 = alloc.allocate("k8s:app=db,k8s:tier=2").id;
  EXPECT_EQ(alloc.allocate("k8s:app=web").id, web);
  EXPECT_EQ(alloc.allocate("k8s:app=cache").id, cache);
  EXPECT_NE(db2, web);
  EXPECT_NE(db2, cache);
  EXPECT_NE(db2, db);  // a released number is not handed to another label set
  EXPECT_EQ(alloc.allocate("k8s:app=db").id, db);  // coming back: the old number
}

}  // namespace
}  // namespace membrane::model

namespace membrane::model {
namespace {

std::string pods(const std::string& db_labels) {
  std::string y;
  for (auto [name, labels, ip] : {std::tuple{"web", "{app: web}", "10.0.0.1"},
                                  std::tuple{"db", db_labels.c_str(), "10.0.0.2"},
                                  std::tuple{"cache", "{app: cache}", "10.0.0.3"}}) {
    y += std::string("---\napiVersion: v1\nkind: Pod\nmetadata: {name: ") + name +
         ", namespace: default, labels: " + labels +
         "}\nspec: {containers: [{name: c, image: x}]}\nstatus: {podIP: " + ip + "}\n";
  }
  return y;
}

std::map<std::string, IdentityId> identitiesOf(const LoadResult& r) {
  std::map<std::string, IdentityId> m;
  for (const auto& p : r.cluster.pods) m[p.name] = p.identity;
  return m;
}

TEST(ClusterIdentities, AllocatorKeepsNumbersAcrossARelabel) {
  ClusterOptions sorted{.id = 2};
  ClusterOptions stable{.id = 2, .identities = std::make_shared<InMemoryIdentityAllocator>(2)};
  auto a1 = loadClusterFromTexts({{"pods.yaml", pods("{app: db}")}}, sorted);
  auto b1 = loadClusterFromTexts({{"pods.yaml", pods("{app: db}")}}, stable);
  ASSERT_TRUE(a1.diags.ok() && b1.diags.ok());
  // A fresh allocator reproduces the sort-based numbers.
  EXPECT_EQ(identitiesOf(a1), identitiesOf(b1));
  // db is relabelled to a set that sorts first: sort-based numbering shifts the others.
  auto a2 = loadClusterFromTexts({{"pods.yaml", pods("{aaa: first}")}}, sorted);
  auto b2 = loadClusterFromTexts({{"pods.yaml", pods("{aaa: first}")}}, stable);
  ASSERT_TRUE(a2.diags.ok() && b2.diags.ok());
  EXPECT_NE(identitiesOf(a2)["cache"], identitiesOf(a1)["cache"]) << "test no longer shows a shift";
  EXPECT_EQ(identitiesOf(b2)["web"], identitiesOf(b1)["web"]);
  EXPECT_EQ(identitiesOf(b2)["cache"], identitiesOf(b1)["cache"]);
  EXPECT_NE(identitiesOf(b2)["db"], identitiesOf(b1)["db"]);
  EXPECT_EQ(b2.cluster.identities.count(identitiesOf(b2)["db"]), 1u);
}

TEST(ClusterIdentities, AllocatorOfAnotherClusterIsAnError) {
  ClusterOptions wrong{.id = 2, .identities = std::make_shared<InMemoryIdentityAllocator>(3)};
  auto r = loadClusterFromTexts({{"pods.yaml", pods("{app: db}")}}, wrong);
  ASSERT_FALSE(r.diags.ok());
  EXPECT_NE(r.diags.errors()[0].str().find("cluster id 3"), std::string::npos)
      << r.diags.errors()[0].str();
}

}  // namespace
}  // namespace membrane::model
