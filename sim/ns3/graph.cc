// SPDX-License-Identifier: Apache-2.0
#include "sim/ns3/graph.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <limits>

namespace membrane::sim::ns3sim {
namespace {

using Graph = boost::adjacency_list<
    boost::vecS, boost::vecS, boost::undirectedS, boost::no_property,
    boost::property<boost::edge_weight_t, uint64_t, boost::property<boost::edge_index_t, size_t>>>;

size_t vertex(UnderlayGraph& g, const std::string& name) {
  auto [it, added] = g.index.emplace(name, g.names.size());
  if (added) g.names.push_back(name);
  return it->second;
}

void addEdge(UnderlayGraph& g, const std::string& a, const std::string& b, const LinkSpec& l) {
  g.edges.push_back({.a = vertex(g, a), .b = vertex(g, b), .link = l});
}

// The generators: which switch every node hangs off and how the switches are joined.
void generate(const UnderlaySpec& spec, const std::vector<std::string>& nodes, UnderlayGraph& g) {
  const size_t n = nodes.size();
  switch (spec.shape) {
    case UnderlayShape::SingleSwitch:
      for (const auto& node : nodes) addEdge(g, node, "switch", spec.link);
      break;
    case UnderlayShape::LeafSpine:
      // Racks in node order: node i sits in rack i * racks / n (contiguous blocks).
      for (size_t i = 0; i < n; ++i) {
        addEdge(g, nodes[i], "leaf-" + std::to_string(i * spec.racks / n), spec.link);
      }
      for (uint32_t r = 0; r < spec.racks; ++r) {
        for (uint32_t s = 0; s < spec.spines; ++s) {
          addEdge(g, "leaf-" + std::to_string(r), "spine-" + std::to_string(s), spec.uplink);
        }
      }
      break;
    case UnderlayShape::TwoZones:
      // The first half of the nodes (rounded up) in zone a, the rest in zone b.
      for (size_t i = 0; i < n; ++i) {
        addEdge(g, nodes[i], i < (n + 1) / 2 ? "zone-a" : "zone-b", spec.link);
      }
      addEdge(g, "zone-a", "zone-b", spec.interzone);
      break;
    case UnderlayShape::Links:
      for (const auto& l : spec.links) addEdge(g, l.from, l.to, l.link);
      break;
  }
}

}  // namespace

std::string shapeName(UnderlayShape s) {
  switch (s) {
    case UnderlayShape::SingleSwitch:
      return "single-switch";
    case UnderlayShape::LeafSpine:
      return "leaf-spine";
    case UnderlayShape::TwoZones:
      return "two-zones";
    case UnderlayShape::Links:
      return "links";
  }
  return "?";
}

std::optional<UnderlayGraph> buildUnderlayGraph(const UnderlaySpec& spec,
                                                const std::vector<std::string>& nodes,
                                                std::string* why) {
  UnderlayGraph g;
  for (const auto& n : nodes) vertex(g, n);
  g.hosts = g.names.size();
  generate(spec, nodes, g);
  const size_t nv = g.names.size();
  Graph bg(nv);
  for (size_t e = 0; e < g.edges.size(); ++e) {
    // +1 per hop: among equal delays the path with fewer links wins.
    boost::add_edge(g.edges[e].a, g.edges[e].b, {g.edges[e].link.delay_ns + 1, e}, bg);
  }
  const uint64_t inf = std::numeric_limits<uint64_t>::max();
  g.next_edge.assign(nv, std::vector<size_t>(g.hosts, SIZE_MAX));
  g.hops.assign(nv, std::vector<uint32_t>(g.hosts, 0));
  g.path_delay_ns.assign(nv, std::vector<uint64_t>(g.hosts, 0));
  auto eindex = boost::get(boost::edge_index, bg);
  for (size_t h = 0; h < g.hosts; ++h) {
    std::vector<size_t> pred(nv);
    std::vector<uint64_t> dist(nv);
    boost::dijkstra_shortest_paths(
        bg, h, boost::predecessor_map(pred.data()).distance_map(dist.data()).distance_inf(inf));
    // The edge each vertex reached on: to its predecessor, on the shortest distance.
    std::vector<size_t> pred_edge(nv, SIZE_MAX);
    for (size_t v = 0; v < nv; ++v) {
      if (v == h || dist[v] == inf) continue;
      for (auto [ei, ee] = boost::out_edges(v, bg); ei != ee; ++ei) {
        if (boost::target(*ei, bg) == pred[v] &&
            dist[pred[v]] + boost::get(boost::edge_weight, bg, *ei) == dist[v]) {
          pred_edge[v] = eindex[*ei];
          break;
        }
      }
    }
    for (size_t v = 0; v < nv; ++v) {
      if (v == h) continue;
      if (dist[v] == inf) {
        if (v < g.hosts) {
          *why = spec.loc.str() + ": underlay: node " + g.names[v] + " cannot reach node " +
                 g.names[h] + " (no path of links between them)";
          return std::nullopt;
        }
        continue;
      }
      g.next_edge[v][h] = pred_edge[v];
      uint32_t hops = 0;
      uint64_t delay = 0;
      for (size_t x = v; x != h; x = pred[x], ++hops) delay += g.edges[pred_edge[x]].link.delay_ns;
      g.hops[v][h] = hops;
      g.path_delay_ns[v][h] = delay;
    }
  }
  return g;
}

}  // namespace membrane::sim::ns3sim
