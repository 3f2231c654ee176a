// SPDX-License-Identifier: Apache-2.0
// The VNI is trusted only from known nodes: a machine on the underlay that is not a node
// (the `outside` peer of scenarios/world-cidr-egress) sends a VXLAN packet claiming a pod
// identity; the node drops it with UNKNOWN_SENDER. The same ping routed natively is
// delivered (the pod has no ingress policy), so the drop is the trust check's.
#include <gtest/gtest.h>
#include <unistd.h>

#include "agent/client.h"
#include "dataplane/netns.h"
#include "dataplane/observe.h"
#include "sim/netns_backend.h"
#include "tests/support/privileged.h"

namespace membrane::sim {
namespace {

const std::string kDir = std::string(MEMBRANE_SOURCE_DIR) + "/scenarios/world-cidr-egress";

TEST(OverlayTrust, VniFromUnknownSenderIsDropped) {
  MEMBRANE_REQUIRE_OR_SKIP(geteuid() == 0, "needs root (network namespaces, BPF)");
  model::Diagnostics diags;
  auto s = loadScenario(kDir, diags);
  ASSERT_TRUE(s);
  auto loaded = loadCaseCluster(s->c, 0, s->cluster);
  ASSERT_TRUE(loaded.diags.ok());
  model::Engine engine(loaded.cluster);
  std::string why;
  auto topo = buildTopology(*s, loaded.cluster, &why);
  ASSERT_TRUE(topo) << why;
  NetnsBackend backend(
      {.routing = Routing::Overlay, .agent_bin = MEMBRANE_AGENT_BIN, .cni_bin = MEMBRANE_CNI_BIN});
  StepState st{.index = 0,
               .scenario = &*s,
               .cluster = &loaded.cluster,
               .engine = &engine,
               .topology = &*topo,
               .routing = Routing::Overlay};
  auto err = backend.apply(st);
  ASSERT_FALSE(err) << *err;
  const std::string outside = backend.netnsOf(st, "outside");
  ASSERT_FALSE(outside.empty());
  const std::string pod = "10.244.1.10";  // egress/exact on node-1 (172.18.0.2)
  auto ping = [&] {
    return dataplane::runQuiet("ip netns exec " + outside + " ping -c 1 -W 1 " + pod) == 0;
  };
  // Natively routed: delivered.
  EXPECT_TRUE(ping()) << "native ping from outside should reach the pod";
  backend.drainNodeEvents();
  // Through VXLAN, VNI = the identity of egress/exact itself.
  // (the number the pod's agent gave it: the agents number identities themselves)
  uint32_t id = 0;
  auto eps = agent::apiRequest(backend.agents().at("node-1").second, "GET", "/v1/endpoints");
  ASSERT_TRUE(eps && eps->status == 200);
  for (const auto& e : eps->body["endpoints"]) {
    if (e["podNamespace"] == "egress" && e["podName"] == "exact")
      id = e["identity"].get<uint32_t>();
  }
  ASSERT_NE(id, 0u) << "no endpoint of egress/exact on node-1: " << eps->body.dump();
  ASSERT_EQ(dataplane::runQuiet(
                "ip -n " + outside + " link add vxf type vxlan external dstport 4789 && ip -n " +
                outside + " link set vxf up && ip -n " + outside + " route add " + pod +
                "/32 encap ip id " + std::to_string(id) + " dst 172.18.0.2 dev vxf && ip -n " +
                outside + " neigh add " + pod + " lladdr 02:00:00:00:fe:01 dev vxf"),
            0);
  EXPECT_FALSE(ping()) << "a VNI from a machine that is not a node was trusted";
  bool unknown_sender = false;
  for (const auto& [node, ev] : backend.drainNodeEvents()) {
    unknown_sender |= node == "node-1" && ev.drop_reason == MEMBRANE_DROP_UNKNOWN_SENDER;
  }
  EXPECT_TRUE(unknown_sender) << "no UNKNOWN_SENDER drop event on node-1";
}

}  // namespace
}  // namespace membrane::sim
