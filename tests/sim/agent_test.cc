// SPDX-License-Identifier: Apache-2.0
// The node agent's reconcile on a real datapath: a second reconcile of the same state
// changes nothing; a relabel touches only the pod's ipcache/endpoint entries and the
// policies that mention it; a pod that leaves frees its endpoint. Desired state: ipcache
// with tunnel endpoints in overlay mode only for pods on other nodes.
#include "dataplane/agent.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>

#include "sim/agents.h"
#include "sim/scenario.h"
#include "tests/support/privileged.h"

namespace membrane::sim {
namespace {

const std::string kDir = std::string(MEMBRANE_SOURCE_DIR) + "/tests/sim/dynamic";

struct StepModel {
  model::LoadResult loaded;
  std::unique_ptr<model::Engine> engine;
};

StepModel load(const Scenario& s, size_t step) {
  StepModel m{.loaded = loadCaseCluster(s.c, step, s.cluster)};
  m.engine = std::make_unique<model::Engine>(m.loaded.cluster);
  return m;
}

dataplane::NodeStateOptions options(bool overlay) {
  return {.overlay = overlay,
          .node_ips = {{"node-1", dataplane::parseIpv4("172.18.0.2").value()},
                       {"node-2", dataplane::parseIpv4("172.18.0.3").value()}},
          .default_node = "node-1"};
}

TEST(AgentState, OverlayTunnelsOnlyRemotePods) {
  model::Diagnostics d;
  auto s = loadScenario(kDir, d);
  ASSERT_TRUE(s);
  auto m = load(*s, 0);
  auto st = dataplane::desiredNodeState(*m.engine, "node-1", options(true));
  // Without a stabilizer the model's numbers are used as they are.
  ASSERT_EQ(st.endpoints.size(), 2u);  // client, other
  const auto server = dataplane::Ipv4Prefix{.addr = *model::parseIpv4("10.244.2.10"), .len = 32};
  const auto client = dataplane::Ipv4Prefix{.addr = *model::parseIpv4("10.244.1.10"), .len = 32};
  ASSERT_TRUE(st.ipcache.count(server));
  EXPECT_EQ(st.ipcache.at(server).tunnel_endpoint, *model::parseIpv4("172.18.0.3"));
  EXPECT_EQ(st.ipcache.at(client).tunnel_endpoint, 0u);
  const auto node1 = dataplane::Ipv4Prefix{.addr = *model::parseIpv4("172.18.0.2"), .len = 32};
  EXPECT_EQ(st.ipcache.at(node1).identity, model::kIdentityHost);
  auto native = dataplane::desiredNodeState(*m.engine, "node-1", options(false));
  EXPECT_EQ(native.ipcache.at(server).tunnel_endpoint, 0u);
}

TEST(AgentReconcile, AppliesOnlyDifferences) {
  MEMBRANE_REQUIRE_OR_SKIP(geteuid() == 0, "needs root to load BPF programs");
  model::Diagnostics d;
  auto s = loadScenario(kDir, d);
  ASSERT_TRUE(s);
  auto agent = dataplane::NodeAgent::create(simDatapathConfig(0));
  MEMBRANE_REQUIRE_OR_SKIP(agent, "kernel refused the datapath: " << agent.error().message());
  dataplane::IdentityStabilizer ids;
  auto opts = options(false);
  opts.identities = &ids;
  auto m0 = load(*s, 0);
  ids.update(m0.loaded.cluster);
  auto st0 = dataplane::desiredNodeState(*m0.engine, "node-2", opts);
  auto r = (*agent)->reconcile(st0);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->endpoints_added, 1u);
  EXPECT_GT(r->ipcache_changes, 0u);
  // Same state again: nothing to do.
  r = (*agent)->reconcile(st0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->policies_swapped + r->policy_entries_changed + r->ipcache_changes +
                r->endpoints_added + r->endpoints_changed + r->endpoints_removed,
            0u)
      << r->str();
  // Step 2 relabels `other` (on node-1) to app=client: on node-2 only other's ipcache entry
  // changes; the server's endpoint and policy (identity numbers kept stable) stay.
  auto m2 = load(*s, 2);
  ids.update(m2.loaded.cluster);
  r = (*agent)->reconcile(dataplane::desiredNodeState(*m2.engine, "node-2", opts));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->endpoints_added + r->endpoints_removed + r->endpoints_changed, 0u) << r->str();
  EXPECT_EQ(r->ipcache_changes, 1u) << r->str();
  EXPECT_EQ(r->policies_swapped, 0u) << r->str();
  // The server leaves: its endpoint and policy slot go.
  r = (*agent)->reconcile({});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->endpoints_removed, 1u);
  EXPECT_FALSE((*agent)->endpointId("dyn/server").has_value());
}

TEST(AgentReconcile, RestartWithPinnedMapsChangesNothing) {
  MEMBRANE_REQUIRE_OR_SKIP(geteuid() == 0, "needs root to load BPF programs");
  const std::string root = "/tmp/msim" + std::to_string(getpid()) + "-bpffs";
  struct Cleanup {
    std::string root;
    ~Cleanup() {
      umount2(root.c_str(), MNT_DETACH);
      std::error_code ec;
      std::filesystem::remove_all(root, ec);
    }
  } cleanup{root};
  model::Diagnostics d;
  auto s = loadScenario(kDir, d);
  ASSERT_TRUE(s);
  auto m = load(*s, 0);
  dataplane::IdentityStabilizer ids;
  ids.update(m.loaded.cluster);
  auto opts = options(true);
  opts.identities = &ids;
  auto state = dataplane::desiredNodeState(*m.engine, "node-1", opts);
  ASSERT_EQ(state.endpoints.size(), 2u);
  auto config = simDatapathConfig(0);
  config.bpffs_root = root;
  std::map<std::string, uint16_t> before;
  {
    auto agent = dataplane::NodeAgent::create(config);
    MEMBRANE_REQUIRE_OR_SKIP(agent, "kernel refused the datapath: " << agent.error().message());
    ASSERT_TRUE((*agent)->reconcile(state).ok());
    for (const auto& ep : state.endpoints) before[ep.name] = *(*agent)->endpointId(ep.name);
  }  // the agent stops; the pinned maps stay
  auto agent = dataplane::NodeAgent::create(config);
  ASSERT_TRUE(agent.ok()) << agent.error().message();
  auto r = (*agent)->reconcile(state);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->policies_swapped + r->policy_entries_changed + r->ipcache_changes +
                r->endpoints_added + r->endpoints_changed + r->endpoints_removed,
            0u)
      << r->str();
  for (const auto& [name, id] : before) EXPECT_EQ((*agent)->endpointId(name), id) << name;
  // A pod that went away while the agent was down is cleaned up on the first reconcile
  // after the next restart: its endpoint entry and its policy slot.
  agent = dataplane::Result<std::unique_ptr<dataplane::NodeAgent>>(
      dataplane::Error{.code = 0, .context = "stopped"});
  agent = dataplane::NodeAgent::create(config);
  ASSERT_TRUE(agent.ok()) << agent.error().message();
  auto fewer = state;
  fewer.endpoints.pop_back();
  r = (*agent)->reconcile(fewer);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->endpoints_removed, 1u) << r->str();
  EXPECT_EQ(r->endpoints_added + r->policies_swapped, 0u) << r->str();
  EXPECT_TRUE((*agent)->datapath().unpin().ok());
}

}  // namespace
}  // namespace membrane::sim
