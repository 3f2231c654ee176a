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

std::string_view trafficKindName(TrafficKind k) {
  switch (k) {
    case TrafficKind::RequestResponse:
      return "request-response";
    case TrafficKind::OnOff:
      return "on-off";
    case TrafficKind::Bulk:
      return "bulk";
  }
  return "?";
}

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

// The ns3 backend's load shape of a traffic item: kind, sizes, on/off periods.
void parseLoadShape(const YamlCtx& ctx, const YAML::Node& n, const std::string& p, TrafficFlow& f) {
  f.name = ctx.str(n, "name", p).value_or("");
  if (auto k = ctx.str(n, "kind", p)) {
    if (*k == "request-response") {
      f.kind = TrafficKind::RequestResponse;
    } else if (*k == "on-off") {
      f.kind = TrafficKind::OnOff;
    } else if (*k == "bulk") {
      f.kind = TrafficKind::Bulk;
    } else {
      ctx.error(n["kind"], model::joinPath(p, "kind"),
                "\"" + *k + "\" is not request-response, on-off or bulk");
    }
  }
  if (f.kind == TrafficKind::Bulk && f.protocol != model::kProtoTCP) {
    ctx.error(n, model::joinPath(p, "kind"), "bulk transfers are TCP");
  }
  if (f.kind == TrafficKind::OnOff && f.protocol != model::kProtoUDP) {
    ctx.error(n, model::joinPath(p, "kind"), "on-off traffic is UDP");
  }
  if (f.kind == TrafficKind::Bulk) f.size = 0;  // a bulk transfer lasts the duration
  if (auto v = ctx.integer(n, "size", p, 0, 1 << 30)) f.size = static_cast<uint32_t>(*v);
  if (auto v = ctx.integer(n, "response", p, 0, 1 << 20)) f.response = static_cast<uint32_t>(*v);
  for (auto [key, out] : {std::pair{"on", &f.on_ms}, std::pair{"off", &f.off_ms}}) {
    if (auto v = ctx.str(n, key, p)) {
      auto d = parseDuration(*v);
      if (!d || *d < 1'000'000) {
        ctx.error(n[key], model::joinPath(p, key), "\"" + *v + "\" is not a duration >= 1ms");
      } else {
        *out = static_cast<uint32_t>(*d / 1'000'000);
      }
    }
  }
}

void parseTraffic(const YamlCtx& ctx, const YAML::Node& n, Scenario& s) {
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string p = model::indexPath("", "traffic", i);
    ctx.checkKeys(n[i], p,
                  {"name", "from", "to", "protocol", "port", "rate", "duration", "expect", "kind",
                   "size", "response", "on", "off"});
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
    parseLoadShape(ctx, n[i], p, f);
    s.traffic.push_back(std::move(f));
  }
}

// A property's bounds: p50/p99 (durations), throughput (a bandwidth), loss ("1%" or 0.01).
void parseBounds(const YamlCtx& ctx, const YAML::Node& n, const std::string& p, Property& pr) {
  for (auto [key, out] : {std::pair{"p50", &pr.p50_ns}, std::pair{"p99", &pr.p99_ns}}) {
    if (auto v = ctx.str(n, key, p)) {
      *out = parseDuration(*v);
      if (!*out) {
        ctx.error(n[key], model::joinPath(p, key), "\"" + *v + "\" is not a duration (e.g. 2ms)");
      }
    }
  }
  if (auto v = ctx.str(n, "throughput", p)) {
    pr.throughput_bps = parseBandwidth(*v);
    if (!pr.throughput_bps) {
      ctx.error(n["throughput"], model::joinPath(p, "throughput"),
                "\"" + *v + "\" is not a bandwidth (e.g. 100Mbps)");
    }
  }
  if (auto v = ctx.str(n, "loss", p)) {
    double x = -1;
    try {
      size_t used = 0;
      x = std::stod(*v, &used);
      if (used < v->size() && v->substr(used) == "%")
        x /= 100;
      else if (used != v->size())
        x = -1;
    } catch (const std::exception&) {
    }
    if (x < 0 || x > 1) {
      ctx.error(n["loss"], model::joinPath(p, "loss"),
                "\"" + *v + "\" is not a loss fraction 0..1 or a percentage (e.g. 0, 1%)");
    } else {
      pr.loss = x;
    }
  }
  if (!pr.p50_ns && !pr.p99_ns && !pr.throughput_bps && !pr.loss) {
    ctx.error(n, p, "a property needs at least one bound: p50, p99, throughput or loss");
  }
}

void parseProperties(const YamlCtx& ctx, const YAML::Node& n, Scenario& s) {
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string p = model::indexPath("", "properties", i);
    ctx.checkKeys(n[i], p, {"flow", "from", "to", "p50", "p99", "throughput", "loss"});
    Property pr{.loc = ctx.loc(n[i])};
    pr.flow = ctx.str(n[i], "flow", p).value_or("");
    pr.from = ctx.str(n[i], "from", p).value_or("");
    pr.to = ctx.str(n[i], "to", p).value_or("");
    if (pr.flow.empty() == (pr.from.empty() || pr.to.empty())) {
      ctx.error(n[i], p, "name a traffic item (flow: NAME) or a flow class (from and to)");
      continue;
    }
    for (size_t t = 0; t < s.traffic.size(); ++t) {
      const TrafficFlow& f = s.traffic[t];
      if (pr.flow.empty() ? f.from == pr.from && f.to == pr.to : f.name == pr.flow) {
        pr.flows.push_back(t);
      }
    }
    if (pr.flows.empty()) {
      const YAML::Node at = !pr.flow.empty() ? n[i]["flow"] : n[i]["from"];
      ctx.error(at, model::joinPath(p, pr.flow.empty() ? "from" : "flow"),
                pr.flow.empty() ? "no traffic item goes from " + pr.from + " to " + pr.to
                                : "no traffic item is named \"" + pr.flow + "\"");
      continue;
    }
    parseBounds(ctx, n[i], p, pr);
    s.properties.push_back(std::move(pr));
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
    ctx.error(root, "", "expected a map with cluster, invariants, traffic, underlay, properties");
    return std::nullopt;
  }
  ctx.checkKeys(root, "", {"cluster", "invariants", "traffic", "underlay", "properties"});
  if (YAML::Node cl = ctx.map(root, "cluster", "")) parseCluster(ctx, cl, s);
  if (auto inv = ctx.str(root, "invariants", "")) {
    s.invariants = (fs::path(dir) / *inv).string();
    if (!fs::exists(s.invariants)) {
      ctx.error(root["invariants"], "invariants", "no such file: " + s.invariants);
    }
  }
  if (YAML::Node t = ctx.seq(root, "traffic", "")) parseTraffic(ctx, t, s);
  if (YAML::Node u = ctx.map(root, "underlay", "")) s.underlay = parseUnderlay(ctx, u);
  if (YAML::Node pr = ctx.seq(root, "properties", "")) parseProperties(ctx, pr, s);
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
