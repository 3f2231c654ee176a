// SPDX-License-Identifier: Apache-2.0
// The underlay as a Boost.Graph graph: the scenario's nodes (hosts) and switches as
// vertices, links as edges weighted by their delay; every vertex's next hop towards every
// host from Dijkstra's shortest paths (the static routes the ns-3 network is given).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/underlay.h"

namespace membrane::sim::ns3sim {

struct GraphEdge {
  size_t a = 0, b = 0;  // vertex indices
  LinkSpec link;
};

struct UnderlayGraph {
  std::vector<std::string> names;  // hosts first (in the order given), then switches
  size_t hosts = 0;
  std::map<std::string, size_t> index;
  std::vector<GraphEdge> edges;
  // next_edge[v][h]: the edge vertex v sends on towards host h (v != h).
  std::vector<std::vector<size_t>> next_edge;
  // hops[v][h]: links on the path; the path's summed delay in ns.
  std::vector<std::vector<uint32_t>> hops;
  std::vector<std::vector<uint64_t>> path_delay_ns;
};

// Builds the graph of `spec` over `nodes` (the scenario's node names) and routes it.
// Errors: a link naming an unknown vertex is impossible (other names are switches); a host
// that cannot reach another one is (`why` names both and the underlay's location).
std::optional<UnderlayGraph> buildUnderlayGraph(const UnderlaySpec& spec,
                                                const std::vector<std::string>& nodes,
                                                std::string* why);

std::string shapeName(UnderlayShape s);

}  // namespace membrane::sim::ns3sim
