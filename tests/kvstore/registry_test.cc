// SPDX-License-Identifier: Apache-2.0
// Nodes and endpoints published under a node's lease: gone after the TTL when the node dies,
// kept when a restarted agent takes its lease back within the TTL.
#include "kvstore/registry.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/support/etcd_harness.h"

namespace membrane::kvstore {
namespace {

using namespace std::chrono_literals;

TEST(Registry, EntriesFollowTheNodesLease) {
  std::string err;
  auto etcd = test::EtcdCluster::start(1, &err);
  ASSERT_NE(etcd, nullptr) << err;
  auto c = Client::create(etcd->clientConfig());
  ASSERT_TRUE(c.ok());
  std::shared_ptr<Client> client = *c;
  const Layout l("r/");
  const NodeRecord n1{.name = "node-1", .ip = "172.18.0.2", .pod_cidr = "10.244.1.0/24"};
  const NodeRecord n2{.name = "node-2", .ip = "172.18.0.3", .pod_cidr = "10.244.2.0/24"};
  const EndpointRecord e1{.ip = "10.244.1.5", .identity = 256, .node = "node-1"};
  const EndpointRecord e2{.ip = "10.244.2.7", .identity = 257, .node = "node-2"};

  auto s1 = Session::create(client, 2);
  auto s2 = Session::create(client, 2);
  ASSERT_TRUE(s1.ok() && s2.ok());
  Registry r1(**s1, l), r2(**s2, l);
  ASSERT_TRUE(r1.publishNode(n1).ok());
  ASSERT_TRUE(r1.publishEndpoint(e1).ok());
  ASSERT_TRUE(r2.publishNode(n2).ok());
  ASSERT_TRUE(r2.publishEndpoint(e2).ok());
  EXPECT_EQ(listNodes(*client, l).value(), (std::vector<NodeRecord>{n1, n2}));
  EXPECT_EQ(listEndpoints(*client, l).value(), (std::vector<EndpointRecord>{e1, e2}));

  // node-1's agent restarts: it stops renewing and takes the same lease back within the TTL.
  const int64_t lease1 = (*s1)->lease();
  (*s1)->abandon();
  s1.value().reset();
  auto back = Session::create(client, 2, lease1);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)->lease(), lease1);
  // node-2 dies for good.
  (*s2)->abandon();
  bool node2_gone = false;
  for (int i = 0; i < 100 && !node2_gone; ++i) {
    node2_gone = listNodes(*client, l).value().size() == 1;
    if (!node2_gone) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(node2_gone) << "node-2 still published 10 s after its lease (TTL 2 s) ran out";
  EXPECT_EQ(listNodes(*client, l).value(), (std::vector<NodeRecord>{n1}));
  EXPECT_EQ(listEndpoints(*client, l).value(), (std::vector<EndpointRecord>{e1}));

  Registry again(**back, l);
  ASSERT_EQ(again.withdrawEndpoint(e1.ip).value(), 1);
  EXPECT_TRUE(listEndpoints(*client, l).value().empty());
}

}  // namespace
}  // namespace membrane::kvstore
