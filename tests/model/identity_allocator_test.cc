// SPDX-License-Identifier: Apache-2.0
#include "model/identity_allocator.h"

#include <gtest/gtest.h>

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
