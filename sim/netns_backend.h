// SPDX-License-Identifier: Apache-2.0
// The netns backend: a run's nodes, pods and external peers as network namespaces, with
// the product on every node: one real membrane-agent process per node and every pod
// created by membrane-cni, as a runtime creates it.
//   <prefix>u      the underlay: a bridge joining the nodes' uplinks and the peers
//   <prefix>n<i>   node i: uplink with the node address and on-link routes to the other
//                  nodes; the rest is the agent's (its datapath, the pods' host-side veths,
//                  in overlay mode its VXLAN device, routes to other nodes' pods)
//   <prefix>p<k>   a pod: eth0 configured by the agent through membrane-cni ADD
//   <prefix>x<k>   an external peer (world 1.1.1.1, outside, ...) owning its address
// The agents read each step's cluster (sim/agent_manifests.h) from the run's etcd, where
// the simulator writes it with `membrane apply` / `membrane delete` (sim/cluster_store.h;
// etcd listens on the underlay bridge), or with --desired-state dir from their watched
// directories; either way the simulator waits until every agent applied it.
// Nothing is connected to this machine's interfaces: the underlay bridge lives in its own
// namespace and no namespace has a route towards the root namespace.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/observe.h"
#include "sim/agent_process.h"
#include "sim/cluster_store.h"
#include "sim/netns_load.h"
#include "sim/netns_probe.h"
#include "sim/sim.h"

namespace membrane::sim {

class NetnsBackend final : public Backend {
 public:
  explicit NetnsBackend(const SimOptions& options);
  ~NetnsBackend() override;

  std::string name() const override { return "netns"; }
  std::optional<std::string> apply(const StepState& step) override;
  void probe(const StepState& step, std::vector<SimCell>& cells) override;
  std::vector<std::string> notes() const override { return notes_; }
  std::vector<TrafficLoad> trafficLoad() const override { return traffic_; }
  // TCP request-response items measured on the veths (sim/netns_load.h); properties are
  // reported against them but not judged (no link model: judgesProperties() is false).
  std::vector<FlowStats> flowStats() const override { return stats_; }

  // The namespace playing a row/column name of the scenario (pod, node peer, external
  // peer), or empty.
  std::string netnsOf(const StepState& step, const std::string& name) const;
  // The address a flow end uses as its source.
  uint32_t addressOf(const StepState& step, const std::string& name) const;
  Servers& servers() { return *servers_; }
  // Flows every node's agent served since the last drain, as the datapath records they
  // stand for: (node, event).
  std::vector<std::pair<std::string, dataplane::FlowEvent>> drainNodeEvents();
  // The same with what the agents add (the deciding policies with their file:line).
  std::vector<std::pair<std::string, AgentFlow>> drainFlows();
  const std::vector<std::string>& namespaces() const { return all_ns_; }
  // The node agents: node name -> (PID, API socket).
  std::map<std::string, std::pair<pid_t, std::string>> agents() const;
  // The run's etcd (--desired-state etcd), or -1.
  pid_t storePid() const { return store_ ? store_->pid() : -1; }

 private:
  std::optional<std::string> setUp(const StepState& step);
  std::optional<std::string> createNamespaces(const Topology& topo);
  std::optional<std::string> wireUnderlay(const StepState& step);
  std::optional<std::string> startStore(const StepState& step);
  std::optional<std::string> startAgents(const StepState& step);
  std::optional<std::string> applyManifests(const StepState& step);
  std::optional<std::string> storeManifests(const StepState& step,
                                            const std::map<std::string, std::string>& files,
                                            std::chrono::steady_clock::time_point t0);
  std::optional<std::string> removePods(const StepState& step);
  std::optional<std::string> addPods(const StepState& step);
  std::optional<std::string> syncRoutes(const StepState& step);
  void runTraffic(const StepState& step);
  std::string serviceBackends(const StepState& step, SimCell& c);
  std::string newNamespace(const std::string& suffix);
  void dropNamespace(const std::string& name);
  void progress(const std::string& line) const;
  void note(const std::string& line);  // a progress line that is also a note of the report

  SimOptions options_;
  std::string prefix_;
  std::string underlay_;
  std::map<std::string, std::string> node_ns_;  // node name -> netns
  std::map<std::string, std::string> peer_ns_;  // external peer name -> netns
  std::map<std::string, std::string> pod_ns_;   // "ns/pod" -> netns
  std::map<std::string, std::string> pod_on_;   // "ns/pod" -> node
  std::map<std::string, uint32_t> pod_ip_;
  std::map<std::string, std::string> pod_container_;             // "ns/pod" -> CNI container id
  std::map<std::string, std::unique_ptr<AgentProcess>> agents_;  // node name -> its agent
  std::unique_ptr<ClusterStore> store_;                          // --desired-state etcd
  std::string agent_bin_;
  std::string cni_bin_;
  std::unique_ptr<Servers> servers_;
  std::vector<std::string> all_ns_;
  std::vector<std::string> notes_;
  std::vector<TrafficLoad> traffic_;  // sent / delivered of the scenario's traffic
  std::vector<FlowStats> stats_;      // request-response items measured
  size_t next_pod_ = 0;
  bool up_ = false;
};

}  // namespace membrane::sim
