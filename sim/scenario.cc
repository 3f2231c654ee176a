// SPDX-License-Identifier: Apache-2.0
#include "sim/scenario.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>

#include "model/yaml_guard.h"
#include "model/yaml_util.h"

namespace membrane::sim {
namespace fs = std::filesystem;
using model::YamlCtx;

std::string_view routingName(Routing r) { return r == Routing::Overlay ? "overlay" : "native"; }

namespace {

void parseCluster(const YamlCtx& ctx, const YAML::Node& n, Scenario& s) {
  ctx.checkKeys(n, "cluster", {"name", "id", "routing", "nodes"});
  if (auto name = ctx.str(n, "name", "cluster")) s.cluster.name = *name;
  if (auto id = ctx.integer(n, "id", "cluster", 0, model::kMaxClusterId)) {
    s.cluster.id = static_cast<uint32_t>(*id);
  }
  if (auto r = ctx.str(n, "routing", "cluster")) {
    if (*r == "overlay") {
      s.routing = Routing::Overlay;
    } else if (*r == "native") {
      s.routing = Routing::Native;
    } else {
      ctx.error(n["routing"], "cluster.routing", "\"" + *r + "\" is not overlay or native");
    }
  }
  YAML::Node nodes = ctx.seq(n, "nodes", "cluster");
  if (!nodes) return;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const std::string p = model::indexPath("cluster", "nodes", i);
    ctx.checkKeys(nodes[i], p, {"name", "internalIP", "podCIDR"});
    ScenarioNode node{.loc = ctx.loc(nodes[i])};
    auto name = ctx.str(nodes[i], "name", p);
    if (!name) {
      ctx.error(nodes[i], model::joinPath(p, "name"), "required field is missing");
      continue;
    }
    node.name = *name;
    if (auto ip = ctx.str(nodes[i], "internalIP", p)) {
      node.internal_ip = model::parseIpv4(*ip);
      if (!node.internal_ip) {
        ctx.error(nodes[i]["internalIP"], model::joinPath(p, "internalIP"),
                  "\"" + *ip + "\" is not an IPv4 address");
      }
    }
    if (auto c = ctx.str(nodes[i], "podCIDR", p)) {
      std::string why;
      node.pod_cidr = model::parseCidr(*c, &why);
      if (!node.pod_cidr || node.pod_cidr->ipv6) {
        ctx.error(nodes[i]["podCIDR"], model::joinPath(p, "podCIDR"),
                  "\"" + *c + "\" is not an IPv4 CIDR" + (why.empty() ? "" : ": " + why));
        node.pod_cidr.reset();
      }
    }
    s.nodes.push_back(std::move(node));
  }
}

std::optional<uint8_t> parseProtocol(const std::string& p) {
  if (p == "TCP") return model::kProtoTCP;
  if (p == "UDP") return model::kProtoUDP;
  if (p == "SCTP") return model::kProtoSCTP;
  if (p == "ICMP") return model::kProtoICMP;
  return std::nullopt;
}

void parseTraffic(const YamlCtx& ctx, const YAML::Node& n, Scenario& s) {
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string p = model::indexPath("", "traffic", i);
    ctx.checkKeys(n[i], p, {"from", "to", "protocol", "port", "rate", "duration", "expect"});
    TrafficFlow f{.loc = ctx.loc(n[i])};
    auto from = ctx.str(n[i], "from", p);
    auto to = ctx.str(n[i], "to", p);
    if (!from || !to) {
      ctx.error(n[i], p, "from and to are required");
      continue;
    }
    f.from = *from;
    f.to = *to;
    const std::string proto = ctx.str(n[i], "protocol", p).value_or("TCP");
    if (auto pr = parseProtocol(proto)) {
      f.protocol = *pr;
    } else {
      ctx.error(n[i]["protocol"], model::joinPath(p, "protocol"),
                "\"" + proto + "\" is not TCP, UDP, SCTP or ICMP");
    }
    f.port = ctx.str(n[i], "port", p).value_or("");
    if (auto r = ctx.integer(n[i], "rate", p, 1, 1000000)) f.rate_pps = static_cast<uint32_t>(*r);
    if (auto d = ctx.integer(n[i], "duration", p, 1, 3600)) {
      f.duration_s = static_cast<uint32_t>(*d);
    }
    if (auto e = ctx.str(n[i], "expect", p)) {
      if (*e == "allow" || *e == "deny") {
        f.expect_allow = *e == "allow";
      } else {
        ctx.error(n[i]["expect"], model::joinPath(p, "expect"),
                  "\"" + *e + "\" is not allow or deny");
      }
    }
    s.traffic.push_back(std::move(f));
  }
}

}  // namespace

std::optional<Scenario> loadScenario(const std::string& dir, model::Diagnostics& diags) {
  auto c = loadCorpusCase(dir, diags);
  if (!c) return std::nullopt;
  Scenario s{.dir = dir, .c = std::move(*c)};
  const std::string file = (fs::path(dir) / "scenario.yaml").string();
  if (!fs::exists(file)) return s;
  auto doc = model::loadYamlFile(file, diags);
  if (!doc) return std::nullopt;
  YAML::Node root = *doc;
  const size_t errors_before = diags.errors().size();
  YamlCtx ctx(file, "scenario " + fs::path(dir).filename().string(), &diags);
  if (!root.IsMap()) {
    ctx.error(root, "", "expected a map with cluster, invariants, traffic, underlay");
    return std::nullopt;
  }
  ctx.checkKeys(root, "", {"cluster", "invariants", "traffic", "underlay"});
  if (YAML::Node cl = ctx.map(root, "cluster", "")) parseCluster(ctx, cl, s);
  if (auto inv = ctx.str(root, "invariants", "")) {
    s.invariants = (fs::path(dir) / *inv).string();
    if (!fs::exists(s.invariants)) {
      ctx.error(root["invariants"], "invariants", "no such file: " + s.invariants);
    }
  }
  if (YAML::Node t = ctx.seq(root, "traffic", "")) parseTraffic(ctx, t, s);
  if (YAML::Node u = ctx.map(root, "underlay", "")) s.underlay = parseUnderlay(ctx, u);
  if (diags.errors().size() != errors_before) return std::nullopt;
  return s;
}

const TopologyNode* Topology::node(const std::string& name) const {
  for (const auto& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

std::map<std::string, uint32_t> Topology::nodeIps() const {
  std::map<std::string, uint32_t> out;
  for (const auto& n : nodes) out[n.name] = n.ip;
  return out;
}

std::optional<Topology> buildTopology(const Scenario& s, const model::Cluster& cluster,
                                      std::string* why) {
  Topology t;
  std::vector<std::string> order;
  auto mention = [&](const std::string& n) {
    if (!n.empty() && std::find(order.begin(), order.end(), n) == order.end()) order.push_back(n);
  };
  for (const auto& n : s.nodes) mention(n.name);
  for (const auto& n : cluster.nodes) mention(n.name);
  for (const auto& p : cluster.pods) mention(p.node_name);
  if (order.empty()) order.push_back("node-1");
  std::set<model::Ipv4> used;
  for (const auto& [name, v] : s.c.peers) {
    if (auto ip = model::parseIpv4(v)) used.insert(*ip);
  }
  for (const auto& p : cluster.pods) {
    if (p.ip) used.insert(*p.ip);
  }
  for (const auto& name : order) {
    TopologyNode tn{.name = name};
    std::optional<model::Ipv4> ip;
    if (const auto* mn = cluster.findNode(name)) {
      ip = mn->internal_ip;
      tn.pod_cidr = mn->pod_cidr;
    }
    for (const auto& sn : s.nodes) {
      if (sn.name != name) continue;
      if (sn.internal_ip) ip = sn.internal_ip;
      if (sn.pod_cidr) tn.pod_cidr = sn.pod_cidr;
    }
    if (tn.pod_cidr && tn.pod_cidr->ipv6) tn.pod_cidr.reset();
    if (ip) used.insert(*ip);
    tn.ip = ip.value_or(0);
    t.nodes.push_back(tn);
  }
  model::Ipv4 next = *model::parseIpv4("172.18.0.2");
  for (auto& n : t.nodes) {
    if (n.ip != 0) continue;
    while (used.count(next)) ++next;
    n.ip = next;
    used.insert(next);
  }
  for (const auto& p : cluster.pods) {
    if (!p.ip) continue;
    t.pod_node[p.ref()] = p.node_name.empty() ? order.front() : p.node_name;
  }
  for (const auto& [name, v] : s.c.peers) {
    if (v.starts_with("node:")) {
      if (!t.node(v.substr(5))) {
        *why = "peer " + name + ": no node " + v.substr(5);
        return std::nullopt;
      }
      t.node_peers[name] = v.substr(5);
      continue;
    }
    auto ip = model::parseIpv4(v);
    if (!ip) {
      *why = "peer " + name + ": \"" + v + "\" is not an IPv4 address or node:NAME";
      return std::nullopt;
    }
    if (cluster.findPodByIp(*ip)) continue;  // a pod's address: the pod plays it
    t.external_peers[name] = *ip;
  }
  return t;
}

}  // namespace membrane::sim
