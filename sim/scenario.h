// SPDX-License-Identifier: Apache-2.0
// Scenarios (docs/scenarios.md): a corpus case directory (manifests.yaml + expect.yaml)
// plus an optional scenario.yaml with the cluster (name, id, routing, nodes), the
// invariants file and traffic for load. A corpus case is a valid scenario as it is.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/diagnostics.h"
#include "model/engine.h"
#include "sim/corpus_case.h"
#include "sim/underlay.h"

namespace membrane::sim {

enum class Routing { Overlay, Native };
std::string_view routingName(Routing r);

struct ScenarioNode {
  std::string name;
  std::optional<model::Ipv4> internal_ip;
  std::optional<model::Cidr> pod_cidr;
  model::SourceLoc loc;
};

// How the ns3 backend generates a traffic item's load (the other backends ignore it).
enum class TrafficKind { RequestResponse, OnOff, Bulk };
std::string_view trafficKindName(TrafficKind k);

struct TrafficFlow {
  std::string name;  // optional; properties refer to it
  std::string from;  // row/column names as in expect.yaml
  std::string to;
  uint8_t protocol = model::kProtoTCP;
  std::string port;
  uint32_t rate_pps = 10;
  uint32_t duration_s = 1;
  // `expect: allow|deny`; absent: the model's verdict for the flow is the expectation.
  std::optional<bool> expect_allow;
  TrafficKind kind = TrafficKind::RequestResponse;
  uint32_t size =
      100;  // request / datagram payload bytes; bulk: total bytes (default 0: unbounded)
  uint32_t response = 100;             // request-response: response payload bytes
  uint32_t on_ms = 100, off_ms = 100;  // on-off periods
  model::SourceLoc loc;
};

// A performance bound on a traffic item (`flow: NAME`) or on every item between two ends
// (`from`/`to`: a flow class); judged by the ns3 backend.
struct Property {
  std::string flow;  // a traffic item's name, or empty with from/to
  std::string from, to;
  std::optional<uint64_t> p50_ns, p99_ns;  // latency upper bounds
  std::optional<uint64_t> throughput_bps;  // lower bound
  std::optional<double> loss;              // upper bound, fraction 0..1
  std::vector<size_t> flows;               // the traffic items it covers (resolved)
  model::SourceLoc loc;
};

struct Scenario {
  std::string dir;
  CorpusCase c;
  model::ClusterOptions cluster;
  Routing routing = Routing::Overlay;
  std::vector<ScenarioNode> nodes;  // overrides and additions to the manifests' Nodes
  std::string invariants;           // path (resolved against dir), may be empty
  std::vector<TrafficFlow> traffic;
  std::optional<UnderlaySpec> underlay;
  std::vector<Property> properties;  // ns3 backend only; absent: defaultUnderlay()
};

// Loads <dir>/expect.yaml and, when present, <dir>/scenario.yaml (unknown fields are errors).
std::optional<Scenario> loadScenario(const std::string& dir, model::Diagnostics& diags);

// Where everything of a scenario lives at one step: nodes with their underlay address and
// pod CIDR (from scenario.yaml, else Node objects, else derived: 172.18.0.2, .3, ... in
// order of first mention), the node of every pod (spec.nodeName, else the first node) and
// the addresses of the peers that are not nodes.
struct TopologyNode {
  std::string name;
  model::Ipv4 ip = 0;
  std::optional<model::Cidr> pod_cidr;
};
struct Topology {
  std::vector<TopologyNode> nodes;
  std::map<std::string, std::string> pod_node;        // "ns/pod" -> node name
  std::map<std::string, model::Ipv4> external_peers;  // peer name -> address
  std::map<std::string, std::string> node_peers;      // peer name -> node name
  const TopologyNode* node(const std::string& name) const;
  std::map<std::string, uint32_t> nodeIps() const;
};
std::optional<Topology> buildTopology(const Scenario& s, const model::Cluster& cluster,
                                      std::string* why);

}  // namespace membrane::sim
