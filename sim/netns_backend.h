// SPDX-License-Identifier: Apache-2.0
// The netns backend: a run's nodes, pods and external peers as network namespaces.
//   <prefix>u      the underlay: a bridge joining the nodes' uplinks and the peers
//   <prefix>n<i>   node i: uplink with the node address, the node agent's datapath,
//                  host-side veths of its pods, in overlay mode a VXLAN device (external,
//                  dstport 4789); routes to the other nodes' pod CIDRs over the underlay
//   <prefix>p<k>   a pod: eth0 with its address, MTU 1450, default via 169.254.1.1
//   <prefix>x<k>   an external peer (world 1.1.1.1, outside, ...) owning its address
// Nothing is connected to this machine's interfaces: the underlay bridge lives in its own
// namespace and no namespace has a route towards the root namespace.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/agent_endpoints.h"
#include "sim/agents.h"
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

  // The namespace playing a row/column name of the scenario (pod, node peer, external
  // peer), or empty.
  std::string netnsOf(const StepState& step, const std::string& name) const;
  // The address a flow end uses as its source.
  uint32_t addressOf(const StepState& step, const std::string& name) const;
  Servers& servers() { return *servers_; }
  // Flow events every node's datapath emitted since the last drain: (node, event).
  std::vector<std::pair<std::string, dataplane::FlowEvent>> drainNodeEvents();
  const std::vector<std::string>& namespaces() const { return all_ns_; }

 private:
  std::optional<std::string> setUp(const StepState& step);
  std::optional<std::string> createNamespaces(const Topology& topo);
  std::optional<std::string> wireUnderlay(const StepState& step);
  std::optional<std::string> startAgents(const StepState& step);
  std::optional<std::string> syncPods(const StepState& step);
  std::optional<std::string> syncRoutes(const StepState& step);
  void runTraffic(const StepState& step);
  std::string newNamespace(const std::string& suffix);
  void dropNamespace(const std::string& name);
  void progress(const std::string& line) const;

  SimOptions options_;
  std::string prefix_;
  std::string underlay_;
  std::map<std::string, std::string> node_ns_;  // node name -> netns
  std::map<std::string, std::string> peer_ns_;  // external peer name -> netns
  std::map<std::string, std::string> pod_ns_;   // "ns/pod" -> netns
  std::map<std::string, std::string> pod_on_;   // "ns/pod" -> node
  std::map<std::string, uint32_t> pod_ip_;
  std::map<std::string, SimNode> nodes_;
  std::map<std::string, std::unique_ptr<dataplane::EndpointManager>> managers_;
  std::vector<std::unique_ptr<dataplane::TcAttachment>> overlay_attachments_;
  dataplane::IdentityStabilizer identities_;
  std::unique_ptr<Servers> servers_;
  std::vector<std::string> all_ns_;
  std::vector<std::string> notes_;
  std::vector<TrafficLoad> traffic_;  // sent / delivered of the scenario's traffic
  size_t next_pod_ = 0;
  bool up_ = false;
};

}  // namespace membrane::sim
