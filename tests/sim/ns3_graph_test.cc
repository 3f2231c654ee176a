// SPDX-License-Identifier: Apache-2.0
// The ns3 backend's underlay: units, the generators' graphs and their shortest-path routes,
// an unreachable node as an error.
#include <gtest/gtest.h>

#include "sim/ns3/graph.h"

namespace membrane::sim::ns3sim {
namespace {

TEST(Ns3Underlay, Units) {
  EXPECT_EQ(parseBandwidth("10Gbps"), 10'000'000'000ULL);
  EXPECT_EQ(parseBandwidth("2.5Mbps"), 2'500'000ULL);
  EXPECT_EQ(parseBandwidth("10GB"), std::nullopt);
  EXPECT_EQ(parseBandwidth("Gbps"), std::nullopt);
  EXPECT_EQ(parseDuration("5us"), 5'000ULL);
  EXPECT_EQ(parseDuration("2ms"), 2'000'000ULL);
  EXPECT_EQ(parseDuration("2"), std::nullopt);
}

TEST(Ns3Underlay, LeafSpineRoutesThroughOneSpine) {
  UnderlaySpec u = defaultUnderlay();
  u.shape = UnderlayShape::LeafSpine;
  u.racks = 2;
  u.spines = 2;
  u.uplink.delay_ns = 1000;
  std::string why;
  auto g = buildUnderlayGraph(u, {"n1", "n2", "n3", "n4"}, &why);
  ASSERT_TRUE(g) << why;
  EXPECT_EQ(g->hosts, 4u);
  EXPECT_EQ(g->names.size(), 8u);       // 4 nodes, 2 leaves, 2 spines
  EXPECT_EQ(g->edges.size(), 4u + 4u);  // node links, leaf x spine
  // n1 and n2 share leaf-0: two links; n1 to n3: node, leaf, spine, leaf, node = 4 links.
  EXPECT_EQ(g->hops[g->index.at("n1")][g->index.at("n2")], 2u);
  EXPECT_EQ(g->hops[g->index.at("n1")][g->index.at("n3")], 4u);
  EXPECT_EQ(g->path_delay_ns[g->index.at("n1")][g->index.at("n3")], 2 * 5'000u + 2 * 1000u);
}

TEST(Ns3Underlay, ShortestPathPrefersLowDelay) {
  UnderlaySpec u{.shape = UnderlayShape::Links};
  LinkSpec fast{.bandwidth_bps = 1'000'000, .delay_ns = 10};
  LinkSpec slow{.bandwidth_bps = 1'000'000, .delay_ns = 1'000'000};
  u.links = {{"a", "b", slow}, {"a", "s", fast}, {"s", "b", fast}};
  std::string why;
  auto g = buildUnderlayGraph(u, {"a", "b"}, &why);
  ASSERT_TRUE(g) << why;
  const size_t e = g->next_edge[g->index.at("a")][g->index.at("b")];
  EXPECT_EQ(g->names[g->edges[e].b], "s");  // via the switch, not the slow direct link
  EXPECT_EQ(g->path_delay_ns[g->index.at("a")][g->index.at("b")], 20u);
}

TEST(Ns3Underlay, UnreachableNodeIsAnError) {
  UnderlaySpec u{.shape = UnderlayShape::Links, .loc = {.file = "s.yaml", .line = 3, .column = 1}};
  LinkSpec l{.bandwidth_bps = 1'000'000};
  u.links = {{"a", "sw", l}};
  std::string why;
  EXPECT_FALSE(buildUnderlayGraph(u, {"a", "b"}, &why));
  EXPECT_NE(why.find("s.yaml:3:1"), std::string::npos) << why;
  EXPECT_NE(why.find("cannot reach"), std::string::npos) << why;
}

}  // namespace
}  // namespace membrane::sim::ns3sim
