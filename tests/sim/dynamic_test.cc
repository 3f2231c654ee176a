// SPDX-License-Identifier: Apache-2.0
// Verdicts follow policy and label changes during a netns run (tests/sim/dynamic), and an
// established TCP connection of an allowed flow survives an unrelated policy change (the
// server's policy map is swapped under it) and a relabel of another pod.
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "agent/client.h"
#include "dataplane/observe.h"
#include "sim/netns_backend.h"
#include "sim/run_registry.h"
#include "tests/support/privileged.h"

namespace membrane::sim {
namespace {

const std::string kDir = std::string(MEMBRANE_SOURCE_DIR) + "/tests/sim/dynamic";

// Sends a line over `fd` and waits for the server's echo.
bool echoes(int fd) {
  const char msg[] = "still-there";
  if (write(fd, msg, sizeof(msg)) != static_cast<ssize_t>(sizeof(msg))) return false;
  pollfd p{.fd = fd, .events = POLLIN};
  if (poll(&p, 1, 2000) != 1) return false;
  char buf[64];
  return read(fd, buf, sizeof(buf)) == static_cast<ssize_t>(sizeof(msg));
}

// Echoes over `fd` back to back until `stop`; records failures and the slowest round trip.
struct EchoLoop {
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int64_t> worst_us{0};
  std::atomic<int> rounds{0};
  std::thread thread;
  explicit EchoLoop(int fd)
      : thread([this, fd] {
          while (!stop) {
            const auto t0 = std::chrono::steady_clock::now();
            if (!echoes(fd)) ++failures;
            const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now() - t0)
                                   .count();
            if (us > worst_us) worst_us = us;
            ++rounds;
          }
        }) {}
  ~EchoLoop() {
    stop = true;
    thread.join();
  }
};

// The interfaces of the calling (root) namespace: a run must not add any.
std::set<std::string> rootInterfaces() {
  std::set<std::string> out;
  if (auto* list = if_nameindex()) {
    for (auto* i = list; i->if_index != 0; ++i) out.insert(i->if_name);
    if_freenameindex(list);
  }
  return out;
}

struct Loaded {
  model::LoadResult cluster;
  std::unique_ptr<model::Engine> engine;
  std::optional<Topology> topo;
};

// Both desired-state sources: the run's etcd fed by `membrane apply` (the CLI's default)
// and the agents' watched directories.
class SimDynamic : public ::testing::TestWithParam<SimOptions::DesiredState> {};

TEST_P(SimDynamic, VerdictsFollowChangesAndConnectionSurvives) {
  MEMBRANE_REQUIRE_OR_SKIP(geteuid() == 0, "needs root (network namespaces, BPF)");
  model::Diagnostics diags;
  auto s = loadScenario(kDir, diags);
  ASSERT_TRUE(s) << "cannot load " << kDir;
  ASSERT_EQ(s->c.steps.size(), 6u);
  SimOptions opts{.routing = Routing::Overlay,
                  .timeout_ms = 800,
                  .agent_bin = MEMBRANE_AGENT_BIN,
                  .cni_bin = MEMBRANE_CNI_BIN,
                  .desired_state = GetParam(),
                  .membrane_bin = MEMBRANE_CLI_BIN};
  size_t namespaces = 0;
  std::map<std::string, std::pair<pid_t, std::string>> agents;
  pid_t etcd = -1;
  const auto root_before = rootInterfaces();
  {
    NetnsBackend backend(opts);
    int conn = -1;
    for (size_t si = 0; si < s->c.steps.size(); ++si) {
      SCOPED_TRACE("step " + s->c.steps[si].name);
      Loaded l{.cluster = loadCaseCluster(s->c, si, s->cluster)};
      ASSERT_TRUE(l.cluster.diags.ok());
      l.engine = std::make_unique<model::Engine>(l.cluster.cluster);
      std::string why;
      l.topo = buildTopology(*s, l.cluster.cluster, &why);
      ASSERT_TRUE(l.topo) << why;
      auto cells = enumerateCells(*s, si, l.cluster.cluster, *l.engine, diags);
      ASSERT_TRUE(diags.ok());
      StepState st{.index = si,
                   .scenario = &*s,
                   .cluster = &l.cluster.cluster,
                   .engine = l.engine.get(),
                   .topology = &*l.topo,
                   .routing = Routing::Overlay};
      std::optional<std::string> err;
      if (si == 1 || si == 2) {
        // The allowed connection keeps talking while the agents reconcile.
        EchoLoop loop(conn);
        err = backend.apply(st);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        loop.stop = true;
        loop.thread.join();
        loop.thread = std::thread([] {});
        EXPECT_EQ(loop.failures, 0) << "echoes failed during the reconcile";
        EXPECT_GT(loop.rounds, 0);
        // Not one packet of the connection dropped by either node's datapath.
        sockaddr_in self{};
        socklen_t len = sizeof(self);
        ASSERT_EQ(getsockname(conn, reinterpret_cast<sockaddr*>(&self), &len), 0);
        for (const auto& [node, ev] : backend.drainNodeEvents()) {
          const bool ours = ev.sport == self.sin_port || ev.dport == self.sin_port;
          EXPECT_FALSE(ours && ev.drop_reason != 0)
              << node << ": " << dataplane::formatFlowEvent(ev);
        }
      } else {
        err = backend.apply(st);
      }
      ASSERT_FALSE(err) << *err;
      namespaces = backend.namespaces().size();
      EXPECT_EQ(rootInterfaces(), root_before) << "the run touched the root namespace's links";
      if (si == 0) {
        etcd = backend.storePid();
        EXPECT_EQ(etcd > 0, GetParam() == SimOptions::DesiredState::Etcd);
        if (etcd > 0) {
          EXPECT_EQ(::kill(etcd, 0), 0) << "etcd not running";
        }
        // The product runs the nodes: one membrane-agent process each, every pod an endpoint
        // its agent created through membrane-cni ADD (container id = the pod's namespace).
        agents = backend.agents();
        ASSERT_EQ(agents.size(), l.topo->nodes.size());
        for (const auto& [node, agent] : agents) {
          EXPECT_EQ(::kill(agent.first, 0), 0) << node << ": agent not running";
          auto r = agent::apiRequest(agent.second, "GET", "/v1/endpoints");
          ASSERT_TRUE(r && r->status == 200) << node;
          std::set<std::string> got, want;
          for (const auto& e : r->body["endpoints"]) {
            got.insert(e["podNamespace"].get<std::string>() + "/" +
                       e["podName"].get<std::string>());
            EXPECT_EQ(
                e["containerId"].get<std::string>(),
                e["netns"].get<std::string>().substr(e["netns"].get<std::string>().rfind('/') + 1));
          }
          for (const auto& [pod, on] : l.topo->pod_node) {
            if (on == node) want.insert(pod);
          }
          EXPECT_EQ(got, want) << node << ": endpoints of its agent";
        }
        // client -> server:8080 is allowed: keep one connection open across the steps.
        ASSERT_TRUE(backend.servers().ensure(backend.netnsOf(st, "dyn/server"), 6, 8080).ok());
        conn = connectTcp(backend.netnsOf(st, "dyn/client"), backend.addressOf(st, "dyn/server"),
                          8080, 2000);
        ASSERT_GE(conn, 0) << "allowed connection was not established";
        EXPECT_TRUE(echoes(conn));
      } else if (si <= 2) {
        EXPECT_TRUE(echoes(conn)) << "established connection broke after an unrelated change";
      }
      backend.probe(st, cells);
      for (const auto& c : cells) {
        EXPECT_TRUE(cellMatches(c.expected, c.observed))
            << c.probe << " " << c.from << " -> " << c.to << ": expected "
            << static_cast<char>(c.expected) << ", observed " << static_cast<char>(c.observed)
            << " (" << c.note << ")";
      }
    }
    // Deleting the only allow takes the flow away, established or not.
    EXPECT_FALSE(echoes(conn)) << "connection survived the deletion of its allow rule";
    close(conn);
  }
  EXPECT_GT(namespaces, 0u);
  ASSERT_FALSE(agents.empty());
  for (const auto& [node, agent] : agents) {
    EXPECT_NE(::kill(agent.first, 0), 0) << node << ": agent " << agent.first << " still runs";
  }
  if (etcd > 0) {
    EXPECT_NE(::kill(etcd, 0), 0) << "etcd " << etcd << " still runs";
  }
  EXPECT_FALSE(std::filesystem::exists("/run/membrane-sim/" + runPrefix()))
      << "the run's agent directories were left behind";
  for (const auto& e : std::filesystem::directory_iterator("/run/netns")) {
    EXPECT_FALSE(e.path().filename().string().starts_with(runPrefix()))
        << "left behind: " << e.path();
  }
}

INSTANTIATE_TEST_SUITE_P(DesiredState, SimDynamic,
                         ::testing::Values(SimOptions::DesiredState::Etcd,
                                           SimOptions::DesiredState::Directory),
                         [](const auto& info) {
                           return info.param == SimOptions::DesiredState::Etcd ? "Etcd"
                                                                               : "Directory";
                         });

TEST(SimCleanup, RemovesNamespacesOfDeadRuns) {
  MEMBRANE_REQUIRE_OR_SKIP(geteuid() == 0, "needs root (network namespaces)");
  // A pid that cannot be alive: above the kernel's pid_max ceiling.
  const std::string stale = std::string(kRunNamePrefix) + "4194999-n1";
  ASSERT_EQ(std::system(("ip netns add " + stale).c_str()), 0);
  auto removed = cleanupStaleRuns();
  EXPECT_NE(std::find(removed.begin(), removed.end(), "namespace " + stale), removed.end());
  EXPECT_FALSE(std::filesystem::exists("/run/netns/" + stale));
  deleteNamespace(stale);
}

}  // namespace
}  // namespace membrane::sim
