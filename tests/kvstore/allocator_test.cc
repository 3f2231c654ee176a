// SPDX-License-Identifier: Apache-2.0
// The etcd identity allocator against a real etcd: many concurrent allocators (threads, each
// its own client and session) agree; relabelling renumbers nothing else; GC after a grace.
#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <random>
#include <thread>

#include "kvstore/identity_allocator.h"
#include "tests/support/etcd_harness.h"

namespace membrane::kvstore {
namespace {

using namespace std::chrono_literals;

struct Node {
  std::shared_ptr<Client> client;
  std::unique_ptr<Session> session;
  std::unique_ptr<EtcdIdentityAllocator> alloc;
};

Node makeNode(const test::EtcdCluster& etcd, const std::string& name,
              std::chrono::milliseconds grace = 5min, int64_t ttl = 10) {
  Node n;
  auto c = Client::create(etcd.clientConfig());
  EXPECT_TRUE(c.ok());
  n.client = *c;
  auto s = Session::create(n.client, ttl);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  n.session = std::move(*s);
  n.alloc = std::make_unique<EtcdIdentityAllocator>(
      *n.session, Layout("a/"),
      EtcdAllocatorConfig{.node = name, .cluster_id = 7, .gc_grace = grace});
  return n;
}

std::unique_ptr<test::EtcdCluster> startEtcd() {
  std::string err;
  auto c = test::EtcdCluster::start(1, &err);
  EXPECT_NE(c, nullptr) << err;
  return c;
}

// Property: for random overlapping label-set choices and orders, concurrent allocators give
// one number per label set and never one number to two label sets.
TEST(EtcdIdentityAllocator, ConcurrentAllocatorsAgree) {
  auto etcd = startEtcd();
  ASSERT_NE(etcd, nullptr);
  constexpr int kAllocators = 6, kLabelSets = 24, kRounds = 3;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<Node> nodes;
    for (int i = 0; i < kAllocators; ++i) nodes.push_back(makeNode(*etcd, "n" + std::to_string(i)));
    std::vector<std::map<std::string, model::IdentityId>> got(kAllocators);
    std::vector<std::string> errors(kAllocators);
    std::vector<std::thread> threads;
    for (int i = 0; i < kAllocators; ++i) {
      threads.emplace_back([&, i] {
        std::mt19937 rng(round * 100 + i);
        std::vector<int> pick(kLabelSets);
        std::iota(pick.begin(), pick.end(), 0);
        std::shuffle(pick.begin(), pick.end(), rng);
        pick.resize(kLabelSets * 2 / 3);  // overlapping subsets
        for (int p : pick) {
          const std::string labels =
              "k8s:round=" + std::to_string(round) + ",k8s:set=" + std::to_string(p);
          auto a = nodes[i].alloc->allocate(labels);
          if (!a.ok()) {
            errors[i] = a.error;
            return;
          }
          got[i][labels] = a.id;
        }
      });
    }
    for (auto& t : threads) t.join();
    std::map<std::string, model::IdentityId> agreed;
    std::map<model::IdentityId, std::string> owner;
    for (int i = 0; i < kAllocators; ++i) {
      ASSERT_TRUE(errors[i].empty()) << errors[i];
      for (const auto& [labels, id] : got[i]) {
        auto [it, fresh] = agreed.emplace(labels, id);
        EXPECT_EQ(it->second, id) << labels << ": allocator " << i << " disagrees";
        auto [ot, ofresh] = owner.emplace(id, labels);
        EXPECT_EQ(ot->second, labels) << "number " << id << " given to two label sets";
        EXPECT_EQ(model::clusterIdOf(id), 7u);
      }
    }
    // The store says the same, both directions.
    for (const auto& [labels, id] : agreed) {
      auto by_labels = nodes[0].client->get(Layout("a/").identityByLabels(labels));
      auto by_id = nodes[0].client->get(Layout("a/").identityById(id));
      ASSERT_TRUE(by_labels.ok() && by_labels->has_value() && by_id.ok() && by_id->has_value());
      EXPECT_EQ((*by_labels)->value, std::to_string(id));
      EXPECT_EQ((*by_id)->value, labels);
    }
  }
}

TEST(EtcdIdentityAllocator, RelabellingOnePodRenumbersNothingElse) {
  auto etcd = startEtcd();
  ASSERT_NE(etcd, nullptr);
  Node a = makeNode(*etcd, "a"), b = makeNode(*etcd, "b");
  const auto web = a.alloc->allocate("k8s:app=web").id;
  const auto db = a.alloc->allocate("k8s:app=db").id;
  const auto cache = b.alloc->allocate("k8s:app=cache").id;
  a.alloc->release("k8s:app=db");
  const auto db2 = a.alloc->allocate("k8s:app=db,k8s:v=2").id;
  EXPECT_EQ(b.alloc->allocate("k8s:app=web").id, web);  // the other node sees the same number
  EXPECT_EQ(a.alloc->allocate("k8s:app=cache").id, cache);
  EXPECT_EQ(a.alloc->allocate("k8s:app=web").id, web);
  EXPECT_NE(db2, db);
  EXPECT_NE(db2, web);
  EXPECT_NE(db2, cache);
  // Within the grace period, the released label set keeps its number.
  EXPECT_EQ(a.alloc->collectGarbage().value(), 0u);
  EXPECT_EQ(b.alloc->allocate("k8s:app=db").id, db);
}

TEST(EtcdIdentityAllocator, UnreferencedIdentityIsCollectedAfterGrace) {
  auto etcd = startEtcd();
  ASSERT_NE(etcd, nullptr);
  Node gc = makeNode(*etcd, "gc", 300ms);
  Node user = makeNode(*etcd, "user", 300ms, 2);
  const auto kept = gc.alloc->allocate("k8s:app=kept").id;
  const auto gone = user.alloc->allocate("k8s:app=gone").id;
  user.session->abandon();  // the node dies; its references expire with its lease (TTL 2 s)
  Layout l("a/");
  bool collected = false;
  for (int i = 0; i < 100 && !collected; ++i) {
    auto n = gc.alloc->collectGarbage();
    ASSERT_TRUE(n.ok()) << n.error().message;
    auto v = gc.client->get(l.identityById(gone));
    ASSERT_TRUE(v.ok());
    collected = !v->has_value();
    if (!collected) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(collected) << "identity of a dead node's label set not collected within 10 s";
  auto labels_key = gc.client->get(l.identityByLabels("k8s:app=gone"));
  ASSERT_TRUE(labels_key.ok());
  EXPECT_FALSE(labels_key->has_value());
  auto still = gc.client->get(l.identityById(kept));
  ASSERT_TRUE(still.ok());
  EXPECT_TRUE(still->has_value()) << "a referenced identity was collected";
}

}  // namespace
}  // namespace membrane::kvstore
