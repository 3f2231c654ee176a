// SPDX-License-Identifier: Apache-2.0
// store_bench (root): policy change -> in force in the maps of every agent, on the cluster
// store. A private etcd (tests/support/etcd_harness.h) and A agents in this process, each the
// real agent (agent/agent.h: model, compile, BPF maps of its own unpinned datapath) on a fake
// NodeNet (no veths), reconciling on its store's trigger as membrane-agent does. N synthetic
// endpoints stand for pods: Pod objects with status.podIP on 100 virtual nodes (no agent runs
// them, so every agent carries all N in its model and ipcache); each agent has 2 local
// endpoints selected by the policy. Each change rewrites one NetworkPolicy (the allowed peer
// app moves) with kvstore::applyObjects, as `membrane apply` does; the latency is from before
// the write to the moment the agent's reconcile that applied that revision returned (its map
// writes are synchronous). Baseline in the same run: one reconcile of an agent with no change.
//
//   store_bench [AGENTS] [N...]     (default 2 agents, N = 100 10000; 30 changes each)
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "agent/agent.h"
#include "agent/store_source.h"
#include "kvstore/objects.h"
#include "model/ip.h"
#include "tests/agent/fake_node_net.h"
#include "tests/support/etcd_harness.h"

namespace {

using namespace membrane;
using Clock = std::chrono::steady_clock;
constexpr int kChanges = 30;
constexpr int kApps = 50;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Node {
  std::unique_ptr<agent::Agent> agent;
  std::unique_ptr<agent::ClusterStore> store;
  agent::Trigger trigger;
  std::atomic<int64_t> revision{0};
  std::atomic<int64_t> at_ns{0};  // when `revision` was reached (steady clock)
  std::atomic<bool> stop{false};
  std::thread loop;
};

std::string policy(int peer) {
  return R"({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",)"
         R"("metadata":{"namespace":"default","name":"web"},"spec":{"podSelector":)"
         R"({"matchLabels":{"app":"a0"}},"ingress":[{"from":[{"podSelector":{"matchLabels":)"
         R"({"app":"a)" +
         std::to_string(peer) + R"("}}}],"ports":[{"port":8080,"protocol":"TCP"}]}]}})";
}

std::string pod(int i) {
  const uint32_t ip = *model::parseIpv4("10.128.0.0") + static_cast<uint32_t>(i) + 1;
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"namespace":"default","name":"p)" +
         std::to_string(i) + R"(","labels":{"app":"a)" + std::to_string(i % kApps) +
         R"("}},"spec":{"nodeName":"virt-)" + std::to_string(i % 100) +
         R"("},"status":{"podIP":")" + model::formatIpv4(ip) + "\"}}";
}

bool startNode(Node& n, int index, const std::string& dir, const test::EtcdCluster& etcd,
               const std::string& prefix, int endpoints) {
  agent::AgentConfig c{.node_name = "node-" + std::to_string(index),
                       .node_ip = *model::parseIpv4("192.168.0." + std::to_string(10 + index)),
                       .pod_cidr = *model::parseIpv4("10.1." + std::to_string(index) + ".0"),
                       .pod_cidr_len = 24,
                       .routing = agent::Routing::Overlay,
                       .state_dir = dir + "/state" + std::to_string(index),
                       .bpffs_dir = "",
                       .socket = dir + "/sock",
                       .source = agent::DesiredSource::Etcd,
                       .max_endpoints = 64,
                       .ct_entries = 1024,
                       .ipcache_entries = static_cast<uint32_t>(std::max(4096, 2 * endpoints)),
                       .policy_entries = 1024};
  c.kvstore.endpoints = etcd.endpoints();
  c.kvstore.prefix = prefix;
  auto a = agent::Agent::open(c, std::make_unique<agent::FakeNodeNet>());
  auto s = agent::ClusterStore::open(c, [&n] { n.trigger.wake(); });
  if (!a || !s) return false;
  n.agent = std::move(*a);
  n.store = std::move(*s);
  n.agent->attachStore(n.store.get());
  if (!n.agent->start()) return false;
  for (int e = 0; e < 2; ++e) {
    auto r = n.agent->createEndpoint({.container_id = "c" + std::to_string(e),
                                      .ifname = "eth0",
                                      .netns = "/proc/self/ns/net",
                                      .labels = {{"app", "a0"}}});
    if (!r) return false;
  }
  n.loop = std::thread([&n] {
    while (!n.stop) {
      if (!n.trigger.wait(50)) continue;
      if (!n.agent->reconcile(true)) continue;
      n.at_ns = Clock::now().time_since_epoch().count();
      n.revision = n.agent->appliedRevision();
    }
  });
  return true;
}

int runSize(int agents, int n, const test::EtcdCluster& etcd) {
  const std::string prefix = "bench" + std::to_string(n) + "/";
  auto client = *kvstore::Client::create(etcd.clientConfig());
  kvstore::Layout layout(prefix);
  const auto w0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    if (!client->put(layout.object("Pod/default/p" + std::to_string(i)), pod(i))) return 1;
  }
  const double write_s = ms(Clock::now() - w0) / 1000;
  if (!kvstore::applyObjects(
          *client, layout,
          {{.identity = "NetworkPolicy/default/web", .yaml = policy(1), .origin = "bench"}})) {
    return 1;
  }
  char t[] = "/tmp/membrane-store-bench-XXXXXX";
  const std::string dir = mkdtemp(t);
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 1; i <= agents; ++i) {
    nodes.push_back(std::make_unique<Node>());
    if (!startNode(*nodes.back(), i, dir, etcd, prefix, n)) {
      std::cerr << "store_bench: agent " << i << " did not start\n";
      return 1;
    }
  }
  // Baseline: a reconcile that changes nothing (model load + compile + map diff).
  auto b0 = Clock::now();
  (void)nodes[0]->agent->reconcile(true);
  const double baseline = ms(Clock::now() - b0);
  const int64_t policy_rev0 = nodes[0]->agent->status().value("policyRevision", int64_t{0});
  std::vector<double> lat;
  for (int k = 0; k < kChanges; ++k) {
    const auto t0 = Clock::now();
    auto rev = kvstore::applyObjects(*client, layout,
                                     {{.identity = "NetworkPolicy/default/web",
                                       .yaml = policy(2 + k % (kApps - 2)),
                                       .origin = "bench"}});
    if (!rev) return 1;
    for (auto& node : nodes) {
      while (node->revision < *rev) std::this_thread::sleep_for(std::chrono::microseconds(200));
      lat.push_back(ms(Clock::duration(node->at_ns.load()) - t0.time_since_epoch()));
    }
  }
  const int64_t policy_rev1 = nodes[0]->agent->status().value("policyRevision", int64_t{0});
  auto keys = client->getPrefix(prefix);
  size_t pod_bytes = 0, ipcache_bytes = 0, ipcache_keys = 0;
  for (const auto& kvp : keys->kvs) {
    const size_t b = kvp.key.size() + kvp.value.size();
    if (kvp.key.find("/objects/Pod/") != std::string::npos) pod_bytes += b;
    if (kvp.key.find("/ipcache/") != std::string::npos) ipcache_bytes += b, ++ipcache_keys;
  }
  for (auto& node : nodes) {
    node->stop = true;
    node->trigger.wake();
    node->loop.join();
    node->agent->attachStore(nullptr);
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat[static_cast<size_t>(p * (lat.size() - 1))]; };
  std::cout << "endpoints " << n << " (synthetic Pod objects) agents " << agents << ": write "
            << write_s << " s; baseline no-change reconcile " << baseline
            << " ms; policy change -> in force on every agent: p50 " << pct(0.5) << " ms, p99 "
            << pct(0.99) << " ms, max " << lat.back() << " ms (" << lat.size()
            << " samples; maps changed " << policy_rev1 - policy_rev0 << " times on node-1)\n"
            << "  etcd: " << keys->kvs.size() << " keys; Pod object " << pod_bytes / n
            << " bytes/endpoint; ipcache " << (ipcache_keys ? ipcache_bytes / ipcache_keys : 0)
            << " bytes/endpoint (" << ipcache_keys << " published by the agents)\n";
  nodes.clear();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    std::cerr << "store_bench: needs root (BPF maps)\n";
    return 1;
  }
  const int agents = argc > 1 ? std::atoi(argv[1]) : 2;
  std::vector<int> sizes;
  for (int i = 2; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {100, 10000};
  std::string err;
  auto etcd = test::EtcdCluster::start(1, &err);
  if (!etcd) {
    std::cerr << "store_bench: " << err << "\n";
    return 1;
  }
  for (int n : sizes) {
    if (int rc = runSize(agents, n, *etcd); rc != 0) return rc;
  }
  return 0;
}
