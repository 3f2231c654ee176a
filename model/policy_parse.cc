// SPDX-License-Identifier: Apache-2.0
// NetworkPolicy / CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy -> PolicyRules.
// Semantics follow Cilium (pkg/k8s/network_policy.go, pkg/policy/api, utils.go);
// see docs/policy-semantics.md.
#include <algorithm>
#include <charconv>

#include "model/l7_parse.h"
#include "model/loader_internal.h"
#include "model/selector_parse.h"

namespace membrane::model {
namespace {

struct Env {
  const RawObject& obj;
  const Cluster& cluster;
  PolicyKind kind;
  std::string ns;  // empty for cluster-wide
  YamlCtx ctx;
};

Requirement eq(std::string_view source, std::string_view key, std::string value) {
  return {.source = std::string(source),
          .key = std::string(key),
          .op = SelectorOp::In,
          .values = {std::move(value)}};
}
Requirement exists(std::string_view source, std::string_view key) {
  return {.source = std::string(source), .key = std::string(key), .op = SelectorOp::Exists};
}

// Namespace scoping of peer endpoint selectors (Cilium utils.go).
LabelSelector scopePeer(const Env& e, LabelSelector sel) {
  if (sel.mentionsSource(kSourceReserved)) return sel;
  if (sel.mentionsKey(kLabelPodNamespace) || sel.mentionsKeyPrefix(kLabelNamespaceLabelsPrefix)) {
    return sel;
  }
  if (e.kind == PolicyKind::CiliumClusterwideNetworkPolicy) {
    sel.add(exists(kSourceK8s, kLabelPodNamespace));
  } else {
    sel.add(eq(kSourceK8s, kLabelPodNamespace, e.ns));
  }
  return sel;
}

bool addEntity(const Env& e, const std::string& name, PeerSet& peers) {
  auto reserved = [&](std::string_view n) {
    LabelSelector s;
    s.add(exists(kSourceReserved, n));
    peers.selectors.push_back(std::move(s));
  };
  const std::string_view cluster_reserved[] = {"host",   "remote-node", "init",          "ingress",
                                               "health", "unmanaged",   "kube-apiserver"};
  if (name == "all") {
    peers.kind = PeerSet::Kind::All;
  } else if (name == "world") {
    reserved("world");
    reserved("world-ipv4");
    reserved("world-ipv6");
  } else if (name == "cluster" || name == "cluster-mesh") {
    for (auto r : cluster_reserved) reserved(r);
    LabelSelector s;
    if (name == "cluster") {
      s.add(eq(kSourceK8s, kLabelCluster, e.cluster.options.name));
    } else {
      s.add(exists(kSourceK8s, kLabelCluster));
    }
    peers.selectors.push_back(std::move(s));
  } else if (name == "none") {
    // selects nothing
  } else if (name == "host" || name == "remote-node" || name == "kube-apiserver" ||
             name == "health" || name == "init" || name == "ingress" || name == "unmanaged" ||
             name == "world-ipv4" || name == "world-ipv6") {
    reserved(name);
  } else {
    return false;
  }
  return true;
}

std::optional<CidrSpec> parseCidrRule(const Env& e, const YAML::Node& n, const std::string& path,
                                      std::vector<CidrSpec>& out) {
  e.ctx.checkKeys(n, path, {"cidr", "except", "cidrGroupRef", "cidrGroupSelector"});
  auto cidr = e.ctx.str(n, "cidr", path);
  auto ref = e.ctx.str(n, "cidrGroupRef", path);
  YAML::Node gsel = e.ctx.map(n, "cidrGroupSelector", path);
  if ((cidr ? 1 : 0) + (ref ? 1 : 0) + (gsel ? 1 : 0) != 1) {
    e.ctx.error(n, path, "exactly one of cidr, cidrGroupRef, cidrGroupSelector must be set");
    return std::nullopt;
  }
  std::vector<Cidr> excepts;
  YAML::Node ex = e.ctx.seq(n, "except", path);
  if (ex) {
    for (size_t i = 0; i < ex.size(); ++i) {
      std::string why;
      auto c = ex[i].IsScalar() ? parseCidr(ex[i].Scalar(), &why) : std::nullopt;
      if (!c) {
        e.ctx.error(ex[i], indexPath(path, "except", i), why.empty() ? "expected a CIDR" : why);
        return std::nullopt;
      }
      excepts.push_back(*c);
    }
  }
  if (cidr) {
    std::string why;
    auto c = parseCidr(*cidr, &why);
    if (!c) {
      e.ctx.error(n["cidr"], joinPath(path, "cidr"), why);
      return std::nullopt;
    }
    for (const auto& x : excepts) {
      if (!c->containsCidr(x) && !c->ipv6 && !x.ipv6) {
        e.ctx.error(n["except"], joinPath(path, "except"),
                    x.str() + " is not contained in " + c->str());
        return std::nullopt;
      }
    }
    out.push_back({.cidr = *c, .except = excepts});
    return out.back();
  }
  // CIDR groups: members become CIDR peers; a missing group selects nothing.
  std::optional<LabelSelector> sel;
  if (gsel) {
    sel = parseLabelSelector(e.ctx, gsel, joinPath(path, "cidrGroupSelector"));
    if (!sel) return std::nullopt;
  }
  bool found = false;
  for (const auto& g : e.cluster.cidr_groups) {
    bool match = false;
    if (ref) {
      match = g.name == *ref;
    } else {
      Labels l;
      for (const auto& [k, v] : g.labels) l.add(std::string(kSourceK8s), k, v);
      match = sel->matches(l);
    }
    if (!match) continue;
    found = true;
    for (const auto& c : g.cidrs) out.push_back({.cidr = c, .except = excepts});
  }
  if (!found && ref) {
    e.ctx.warning(n["cidrGroupRef"], joinPath(path, "cidrGroupRef"),
                  "CiliumCIDRGroup \"" + *ref + "\" does not exist; the rule selects nothing");
  }
  return CidrSpec{};
}

std::optional<uint16_t> parsePortNumber(std::string_view s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

bool validPortName(std::string_view s) {
  if (s.empty() || s.size() > 15) return false;
  bool letter = false;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') {
      letter = true;
    } else if (!(c >= '0' && c <= '9') && c != '-') {
      return false;
    }
  }
  return letter && s.front() != '-' && s.back() != '-';
}

// One port entry: CNP {port, endPort, protocol} or KNP {port, endPort, protocol}.
std::optional<PortSpec> parsePort(const Env& e, const YAML::Node& n, const std::string& path,
                                  bool knp) {
  e.ctx.checkKeys(n, path, {"port", "endPort", "protocol"});
  PortSpec p;
  auto proto = e.ctx.str(n, "protocol", path);
  std::string pr = proto.value_or(knp ? "TCP" : "ANY");
  if (pr == "TCP") {
    p.protocol = kProtoTCP;
  } else if (pr == "UDP") {
    p.protocol = kProtoUDP;
  } else if (pr == "SCTP") {
    p.protocol = kProtoSCTP;
  } else if (pr == "ANY" && !knp) {
    p.protocol = kProtoAny;
  } else {
    e.ctx.error(n["protocol"], joinPath(path, "protocol"),
                "\"" + pr + "\" is not a supported protocol; expected TCP, UDP, SCTP" +
                    (knp ? "" : " or ANY"));
    return std::nullopt;
  }
  auto port = e.ctx.str(n, "port", path);
  if (port && !port->empty()) {
    if (auto num = parsePortNumber(*port)) {
      p.port = *num;
    } else if (validPortName(*port)) {
      p.name = *port;
    } else {
      e.ctx.error(n["port"], joinPath(path, "port"),
                  "\"" + *port + "\" is not a port number (0-65535) or a valid port name");
      return std::nullopt;
    }
  }
  p.end_port = p.port;
  if (auto end = e.ctx.integer(n, "endPort", path, 0, 65535)) {
    if (!p.name.empty() || p.port == 0) {
      e.ctx.error(n["endPort"], joinPath(path, "endPort"), "endPort needs a numeric port");
      return std::nullopt;
    }
    if (*end < p.port) {
      e.ctx.error(n["endPort"], joinPath(path, "endPort"),
                  std::to_string(*end) + " is smaller than port " + std::to_string(p.port));
      return std::nullopt;
    }
    p.end_port = static_cast<uint16_t>(*end);
  }
  if (p.port == 0) p.end_port = 65535;
  return p;
}

PolicyRule baseRule(const Env& e, const LabelSelector& subject, Direction dir, bool deny,
                    std::string path, const YAML::Node& at) {
  PolicyRule r;
  r.kind = e.kind;
  r.policy_namespace = e.ns;
  r.policy_name = e.obj.name;
  r.path = std::move(path);
  r.loc = e.ctx.loc(at);
  r.subject = subject;
  r.direction = dir;
  r.deny = deny;
  return r;
}

void pushRule(PolicyRepository& repo, PolicyRule r) {
  r.id = repo.rules.size();
  repo.rules.push_back(std::move(r));
}

// ---- Kubernetes NetworkPolicy ---------------------------------------------------------------

void parseKnpPeers(const Env& e, const YAML::Node& list, const std::string& path, PeerSet& peers) {
  if (!isPresent(list) || list.size() == 0) {
    peers.kind = PeerSet::Kind::All;  // empty or missing from/to: every source/destination
    return;
  }
  peers.kind = PeerSet::Kind::Some;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string p = path + "[" + std::to_string(i) + "]";
    const YAML::Node& n = list[i];
    e.ctx.checkKeys(n, p, {"podSelector", "namespaceSelector", "ipBlock"});
    YAML::Node ps = e.ctx.map(n, "podSelector", p);
    YAML::Node nss = e.ctx.map(n, "namespaceSelector", p);
    YAML::Node ib = e.ctx.map(n, "ipBlock", p);
    if (ib && (ps || nss)) {
      e.ctx.error(n, p, "ipBlock cannot be combined with podSelector or namespaceSelector");
      continue;
    }
    if (ib) {
      e.ctx.checkKeys(ib, joinPath(p, "ipBlock"), {"cidr", "except"});
      if (!isPresent(ib["cidr"])) {
        e.ctx.error(ib, joinPath(p, "ipBlock.cidr"), "required field is missing");
        continue;
      }
      parseCidrRule(e, ib, joinPath(p, "ipBlock"), peers.cidrs);
      continue;
    }
    if (!ps && !nss) {
      e.ctx.error(n, p, "a peer needs podSelector, namespaceSelector or ipBlock");
      continue;
    }
    LabelSelector sel;
    if (ps) {
      auto s = parseLabelSelector(e.ctx, ps, joinPath(p, "podSelector"));
      if (!s) continue;
      sel = *s;
    }
    if (nss) {
      auto s = parseLabelSelector(e.ctx, nss, joinPath(p, "namespaceSelector"),
                                  kLabelNamespaceLabelsPrefix);
      if (!s) continue;
      for (auto& r : s->requirements) sel.add(r);
      sel.add(exists(kSourceK8s, kLabelPodNamespace));
    } else {
      sel.add(eq(kSourceK8s, kLabelPodNamespace, e.ns));
    }
    peers.selectors.push_back(std::move(sel));
  }
}

void parseKnpPorts(const Env& e, const YAML::Node& list, const std::string& path,
                   std::vector<PortSpec>& out) {
  if (!isPresent(list)) return;
  for (size_t i = 0; i < list.size(); ++i) {
    if (auto p = parsePort(e, list[i], path + "[" + std::to_string(i) + "]", true)) {
      out.push_back(*p);
    }
  }
}

void parseKnp(const Env& e, PolicyRepository& repo) {
  const YAML::Node& o = e.obj.node;
  YAML::Node spec = e.ctx.map(o, "spec", "");
  if (!spec) {
    e.ctx.error(o, "spec", "required field is missing");
    return;
  }
  e.ctx.checkKeys(spec, "spec", {"podSelector", "policyTypes", "ingress", "egress"});
  LabelSelector subject;
  YAML::Node ps = e.ctx.map(spec, "podSelector", "spec");
  if (ps) {
    auto s = parseLabelSelector(e.ctx, ps, "spec.podSelector");
    if (!s) return;
    subject = *s;
  }
  subject.add(eq(kSourceK8s, kLabelPodNamespace, e.ns));
  YAML::Node ingress = e.ctx.seq(spec, "ingress", "spec");
  YAML::Node egress = e.ctx.seq(spec, "egress", "spec");
  bool do_in = true;
  bool do_eg = isPresent(spec["egress"]);
  YAML::Node types = e.ctx.seq(spec, "policyTypes", "spec");
  if (types) {
    do_in = do_eg = false;
    for (size_t i = 0; i < types.size(); ++i) {
      const std::string t = types[i].IsScalar() ? types[i].Scalar() : "";
      if (t == "Ingress") {
        do_in = true;
      } else if (t == "Egress") {
        do_eg = true;
      } else {
        e.ctx.error(types[i], indexPath("spec", "policyTypes", i),
                    "\"" + t + "\" is not a policy type; expected Ingress or Egress");
      }
    }
  }
  auto direction = [&](bool enabled, const YAML::Node& list, Direction dir, const char* field,
                       const char* peer_field) {
    if (!enabled) return;
    if (!list || list.size() == 0) {
      // Default deny for this direction, no allowed peers.
      pushRule(repo,
               baseRule(e, subject, dir, false, std::string("spec.") + field, list ? list : spec));
      return;
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string p = indexPath("spec", field, i);
      e.ctx.checkKeys(list[i], p, {peer_field, "ports"});
      PolicyRule r = baseRule(e, subject, dir, false, p, list[i]);
      parseKnpPeers(e, e.ctx.seq(list[i], peer_field, p), joinPath(p, peer_field), r.peers);
      parseKnpPorts(e, e.ctx.seq(list[i], "ports", p), joinPath(p, "ports"), r.ports);
      pushRule(repo, std::move(r));
    }
  };
  direction(do_in, ingress, Direction::Ingress, "ingress", "from");
  direction(do_eg, egress, Direction::Egress, "egress", "to");
}

// ---- CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy ------------------------------------

std::optional<uint8_t> icmpTypeByName(std::string_view s) {
  static const std::pair<std::string_view, uint8_t> kNames[] = {{"EchoReply", 0},
                                                                {"DestinationUnreachable", 3},
                                                                {"Redirect", 5},
                                                                {"EchoRequest", 8},
                                                                {"RouterAdvertisement", 9},
                                                                {"RouterSelection", 10},
                                                                {"TimeExceeded", 11},
                                                                {"ParameterProblem", 12},
                                                                {"Timestamp", 13},
                                                                {"TimestampReply", 14},
                                                                {"Photuris", 40},
                                                                {"ExtendedEchoRequest", 42},
                                                                {"ExtendedEchoReply", 43}};
  for (auto [n, v] : kNames) {
    if (n == s) return v;
  }
  if (auto num = parsePortNumber(s); num && *num <= 255) return static_cast<uint8_t>(*num);
  return std::nullopt;
}

struct CnpRuleSpec {
  bool ingress;
  bool deny;
  const char* field;
};

// The peers a Service stands for, as Cilium's policy watcher generates them: a Service with a
// selector becomes a toEndpoints of that selector in its namespace; one without becomes a
// toCIDRSet of its endpoints' addresses (/32 each). A CIDR of a pod's address matches no pod,
// as in Cilium, where an address of a cluster endpoint resolves to the endpoint's identity.
void addServicePeers(const Service& service, PeerSet& peers) {
  if (service.selector) {
    LabelSelector sel;
    for (const auto& [lk, lv] : *service.selector) sel.add(eq(kSourceK8s, lk, lv));
    sel.add(eq(kSourceK8s, kLabelPodNamespace, service.namespace_));
    peers.selectors.push_back(std::move(sel));
    return;
  }
  for (const auto& b : service.backend_endpoints) {
    std::string why;
    if (auto c = parseCidr(formatIpv4(b.ip) + "/32", &why)) peers.cidrs.push_back({.cidr = *c});
  }
}

// One toServices entry: k8sService {serviceName, namespace} or k8sServiceSelector {selector,
// namespace}. An empty namespace is the policy's (none for a CCNP selector: every namespace).
bool parseToService(const Env& e, const YAML::Node& n, const std::string& ip, PeerSet& peers) {
  e.ctx.checkKeys(n, ip, {"k8sService", "k8sServiceSelector"});
  YAML::Node svc = e.ctx.map(n, "k8sService", ip);
  YAML::Node ssel = e.ctx.map(n, "k8sServiceSelector", ip);
  if (svc && ssel) {
    e.ctx.error(ssel, joinPath(ip, "k8sServiceSelector"),
                "k8sService and k8sServiceSelector are exclusive; expected one of them");
    return false;
  }
  if (!svc && !ssel) {
    e.ctx.error(n, ip, "expected k8sService or k8sServiceSelector");
    return false;
  }
  const std::string sp = joinPath(ip, svc ? "k8sService" : "k8sServiceSelector");
  YAML::Node body = svc ? svc : ssel;
  e.ctx.checkKeys(body, sp, {svc ? "serviceName" : "selector", "namespace"});
  std::string sns = e.ctx.str(body, "namespace", sp).value_or("");
  if (sns.empty() && (svc || e.kind != PolicyKind::CiliumClusterwideNetworkPolicy))
    sns = e.ns.empty() ? "default" : e.ns;
  size_t matched = 0;
  if (svc) {
    auto name = e.ctx.str(svc, "serviceName", sp);
    if (!name || name->empty()) {
      e.ctx.error(svc, joinPath(sp, "serviceName"), "required field is missing");
      return false;
    }
    if (const Service* s = e.cluster.findService(sns, *name)) {
      addServicePeers(*s, peers);
      ++matched;
    }
  } else {
    YAML::Node seln = e.ctx.map(ssel, "selector", sp);
    auto sel = parseLabelSelector(e.ctx, seln ? seln : YAML::Node(YAML::NodeType::Map),
                                  joinPath(sp, "selector"));
    if (!sel) return false;
    for (const auto& s : e.cluster.services) {
      if (!sns.empty() && s.namespace_ != sns) continue;
      Labels l;
      for (const auto& [lk, lv] : s.labels) l.add(std::string(kSourceK8s), lk, lv);
      if (!sel->matches(l)) continue;
      addServicePeers(s, peers);
      ++matched;
    }
  }
  if (matched == 0) {
    e.ctx.warning(body, sp,
                  "no Service matches in the loaded manifests; this entry selects nothing");
  }
  return true;
}

// L3 peers of one CNP rule. Returns false on error.
bool parseCnpPeers(const Env& e, const YAML::Node& n, const std::string& p, const CnpRuleSpec& s,
                   PeerSet& peers) {
  const char* ep = s.ingress ? "fromEndpoints" : "toEndpoints";
  const char* ent = s.ingress ? "fromEntities" : "toEntities";
  const char* cidr = s.ingress ? "fromCIDR" : "toCIDR";
  const char* cset = s.ingress ? "fromCIDRSet" : "toCIDRSet";
  std::vector<std::string> l3;
  for (const char* k :
       {s.ingress ? "fromEndpoints" : "toEndpoints", s.ingress ? "fromRequires" : "toRequires",
        s.ingress ? "fromCIDR" : "toCIDR", s.ingress ? "fromCIDRSet" : "toCIDRSet",
        s.ingress ? "fromEntities" : "toEntities", s.ingress ? "fromGroups" : "toGroups",
        s.ingress ? "fromNodes" : "toNodes", "toServices", "toFQDNs"}) {
    if (n.IsMap() && isPresent(n[k]) &&
        (s.ingress ? std::string_view(k) != "toServices" && std::string_view(k) != "toFQDNs"
                   : true)) {
      l3.push_back(k);
    }
  }
  if (l3.size() > 1) {
    e.ctx.error(n[l3[1]], joinPath(p, l3[1]),
                "combining " + l3[0] + " and " + l3[1] + " is not supported");
    return false;
  }
  if (l3.empty()) {
    const bool has_l4 = isPresent(n["toPorts"]) || isPresent(n["icmps"]);
    peers.kind = has_l4 ? PeerSet::Kind::All : PeerSet::Kind::None;
    return true;
  }
  const std::string k = l3[0];
  YAML::Node list = e.ctx.seq(n, k.c_str(), p);
  if (!list) return false;
  peers.kind = PeerSet::Kind::Some;  // an explicitly empty list selects nothing
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string ip = indexPath(p, k, i);
    if (k == ep) {
      auto sel = parseLabelSelector(e.ctx, list[i], ip);
      if (!sel) return false;
      peers.selectors.push_back(scopePeer(e, *sel));
    } else if (k == ent) {
      const std::string name = list[i].IsScalar() ? list[i].Scalar() : "";
      if (!addEntity(e, name, peers)) {
        e.ctx.error(
            list[i], ip,
            "\"" + name +
                "\" is not an entity; expected all, world, cluster, cluster-mesh, "
                "host, remote-node, kube-apiserver, health, init, ingress, unmanaged or none");
        return false;
      }
    } else if (k == cidr) {
      std::string why;
      auto c = list[i].IsScalar() ? parseCidr(list[i].Scalar(), &why) : std::nullopt;
      if (!c) {
        e.ctx.error(list[i], ip, why.empty() ? "expected a CIDR string" : why);
        return false;
      }
      peers.cidrs.push_back({.cidr = *c});
    } else if (k == cset) {
      if (!parseCidrRule(e, list[i], ip, peers.cidrs)) return false;
    } else if (k == "toServices") {
      if (!parseToService(e, list[i], ip, peers)) return false;
    } else {
      e.ctx.warning(
          list[i], ip,
          k + " cannot be resolved statically (needs " +
              (k == "toFQDNs" ? std::string("DNS") : std::string("a cloud or node source")) +
              "); this entry selects nothing");
    }
  }
  return true;
}

void parseCnpRule(const Env& e, const YAML::Node& n, const std::string& p, const CnpRuleSpec& s,
                  const LabelSelector& subject, bool default_deny, PolicyRepository& repo) {
  if (!n.IsMap()) {
    e.ctx.error(n, p, "expected a rule (a map), got " + std::string(yamlTypeName(n)));
    return;
  }
  if (s.ingress) {
    if (s.deny) {
      e.ctx.checkKeys(n, p,
                      {"fromEndpoints", "fromRequires", "fromCIDR", "fromCIDRSet", "fromEntities",
                       "fromGroups", "fromNodes", "toPorts", "icmps"});
    } else {
      e.ctx.checkKeys(n, p,
                      {"fromEndpoints", "fromRequires", "fromCIDR", "fromCIDRSet", "fromEntities",
                       "fromGroups", "fromNodes", "toPorts", "icmps", "authentication"});
    }
  } else if (s.deny) {
    e.ctx.checkKeys(n, p,
                    {"toEndpoints", "toRequires", "toCIDR", "toCIDRSet", "toEntities", "toServices",
                     "toGroups", "toNodes", "toPorts", "icmps"});
  } else {
    e.ctx.checkKeys(n, p,
                    {"toEndpoints", "toRequires", "toCIDR", "toCIDRSet", "toEntities", "toServices",
                     "toGroups", "toNodes", "toFQDNs", "toPorts", "icmps", "authentication"});
  }
  PolicyRule base =
      baseRule(e, subject, s.ingress ? Direction::Ingress : Direction::Egress, s.deny, p, n);
  base.default_deny = default_deny;
  if (!parseCnpPeers(e, n, p, s, base.peers)) return;
  YAML::Node ports = e.ctx.seq(n, "toPorts", p);
  YAML::Node icmps = e.ctx.seq(n, "icmps", p);
  if (ports && icmps) {
    e.ctx.error(n["icmps"], joinPath(p, "icmps"), "icmps and toPorts cannot be in the same rule");
    return;
  }
  if (icmps) {
    base.icmps_present = true;
    for (size_t i = 0; i < icmps.size(); ++i) {
      const std::string ip = indexPath(p, "icmps", i);
      e.ctx.checkKeys(icmps[i], ip, {"fields"});
      YAML::Node fields = e.ctx.seq(icmps[i], "fields", ip);
      if (!fields) continue;
      for (size_t j = 0; j < fields.size(); ++j) {
        const std::string fp = indexPath(ip, "fields", j);
        e.ctx.checkKeys(fields[j], fp, {"family", "type"});
        const std::string fam = e.ctx.str(fields[j], "family", fp).value_or("IPv4");
        auto type = e.ctx.str(fields[j], "type", fp);
        if (fam != "IPv4" && fam != "IPv6") {
          e.ctx.error(fields[j]["family"], joinPath(fp, "family"), "expected IPv4 or IPv6");
          continue;
        }
        if (!type) {
          e.ctx.error(fields[j], joinPath(fp, "type"), "required field is missing");
          continue;
        }
        auto t = icmpTypeByName(*type);
        if (!t) {
          e.ctx.error(fields[j]["type"], joinPath(fp, "type"),
                      "\"" + *type + "\" is not an ICMP type (0-255 or a name like EchoRequest)");
          continue;
        }
        if (fam == "IPv4") base.icmp_types.push_back(*t);
      }
    }
    pushRule(repo, std::move(base));
    return;
  }
  if (!ports) {
    pushRule(repo, std::move(base));
    return;
  }
  // One rule per PortRule with L7 (it redirects), one for all the plain PortRules.
  PolicyRule plain = base;
  bool any_plain = false;
  for (size_t i = 0; i < ports.size(); ++i) {
    const std::string pp = indexPath(p, "toPorts", i);
    if (s.deny) {
      e.ctx.checkKeys(ports[i], pp, {"ports"});
    } else {
      e.ctx.checkKeys(
          ports[i], pp,
          {"ports", "rules", "terminatingTLS", "originatingTLS", "serverNames", "listener"});
    }
    PolicyRule r = base;
    r.path = pp;
    r.loc = e.ctx.loc(ports[i]);
    YAML::Node pl = e.ctx.seq(ports[i], "ports", pp);
    if (pl) {
      if (pl.size() > 40) e.ctx.error(pl, joinPath(pp, "ports"), "at most 40 ports are allowed");
      for (size_t j = 0; j < pl.size(); ++j) {
        if (auto port = parsePort(e, pl[j], indexPath(pp, "ports", j), false)) {
          r.ports.push_back(*port);
        }
      }
    }
    if (r.ports.empty()) r.ports.push_back({.port = 0, .end_port = 65535, .protocol = kProtoAny});
    YAML::Node rules = e.ctx.map(ports[i], "rules", pp);
    if (rules) {
      const std::string rp = joinPath(pp, "rules");
      e.ctx.checkKeys(rules, rp, {"http", "dns", "kafka", "l7proto", "l7"});
      for (const char* t : {"http", "dns", "kafka", "l7"}) {
        YAML::Node l = e.ctx.seq(rules, t, rp);
        if (!l) continue;
        if (std::string_view(t) == "dns" && s.ingress) {
          e.ctx.error(rules[t], joinPath(rp, t), "DNS rules are not allowed on ingress");
          continue;
        }
        L7Info info{.type = t, .rule_count = l.size()};
        const std::string policy = std::string(policyKindName(e.kind)) + " " +
                                   (e.ns.empty() ? "" : e.ns + "/") + e.obj.name;
        if (info.type == "http") parseHttpRules(e.ctx, l, joinPath(rp, t), policy, info.http);
        if (info.type == "dns") parseDnsRules(e.ctx, l, joinPath(rp, t), policy, info.dns);
        r.l7.push_back(std::move(info));
      }
    }
    if (!r.l7.empty()) {
      pushRule(repo, std::move(r));
    } else {
      plain.ports.insert(plain.ports.end(), r.ports.begin(), r.ports.end());
      any_plain = true;
    }
  }
  if (any_plain) pushRule(repo, std::move(plain));
}

void parseCnpSpec(const Env& e, const YAML::Node& spec, const std::string& path,
                  PolicyRepository& repo) {
  if (!spec.IsMap()) {
    e.ctx.error(spec, path, "expected a rule (a map), got " + std::string(yamlTypeName(spec)));
    return;
  }
  e.ctx.checkKeys(spec, path,
                  {"endpointSelector", "nodeSelector", "ingress", "ingressDeny", "egress",
                   "egressDeny", "labels", "enableDefaultDeny", "description", "log"});
  YAML::Node es = e.ctx.map(spec, "endpointSelector", path);
  YAML::Node nsel = e.ctx.map(spec, "nodeSelector", path);
  if ((es ? 1 : 0) + (nsel ? 1 : 0) != 1) {
    e.ctx.error(spec, path, "exactly one of endpointSelector and nodeSelector must be set");
    return;
  }
  const CnpRuleSpec kinds[] = {{true, false, "ingress"},
                               {true, true, "ingressDeny"},
                               {false, false, "egress"},
                               {false, true, "egressDeny"}};
  size_t in_count = 0, eg_count = 0;
  for (const auto& k : kinds) {
    YAML::Node l = e.ctx.seq(spec, k.field, path);
    if (l) (k.ingress ? in_count : eg_count) += l.size();
  }
  if (in_count + eg_count == 0) {
    e.ctx.error(spec, path,
                "rule must have at least one of ingress, ingressDeny, egress, egressDeny");
    return;
  }
  if (nsel) {
    e.ctx.warning(nsel, joinPath(path, "nodeSelector"),
                  "host policies (nodeSelector) are not enforced: there are no host endpoints");
    return;
  }
  auto sel = parseLabelSelector(e.ctx, es, joinPath(path, "endpointSelector"));
  if (!sel) return;
  LabelSelector subject = *sel;
  if (e.kind == PolicyKind::CiliumNetworkPolicy) {
    subject.add(eq(kSourceK8s, kLabelPodNamespace, e.ns));
  }
  YAML::Node dd = e.ctx.map(spec, "enableDefaultDeny", path);
  e.ctx.checkKeys(dd, joinPath(path, "enableDefaultDeny"), {"ingress", "egress"});
  const bool dd_in =
      e.ctx.boolean(dd, "ingress", joinPath(path, "enableDefaultDeny")).value_or(true);
  const bool dd_eg =
      e.ctx.boolean(dd, "egress", joinPath(path, "enableDefaultDeny")).value_or(true);
  for (const auto& k : kinds) {
    YAML::Node l = e.ctx.seq(spec, k.field, path);
    if (!l) continue;
    for (size_t i = 0; i < l.size(); ++i) {
      parseCnpRule(e, l[i], indexPath(path, k.field, i), k, subject, k.ingress ? dd_in : dd_eg,
                   repo);
    }
  }
}

void parseCnp(const Env& e, PolicyRepository& repo) {
  const YAML::Node& o = e.obj.node;
  const bool has_spec = isPresent(o["spec"]);
  YAML::Node specs = e.ctx.seq(o, "specs", "");
  if (!has_spec && !specs) {
    e.ctx.error(o, "spec", "required field is missing (spec or specs)");
    return;
  }
  if (has_spec) parseCnpSpec(e, o["spec"], "spec", repo);
  if (specs) {
    for (size_t i = 0; i < specs.size(); ++i)
      parseCnpSpec(e, specs[i], indexPath("", "specs", i), repo);
  }
}

}  // namespace

void parsePolicyObject(const RawObject& o, const Cluster& cluster, PolicyRepository& repo,
                       Diagnostics& diags) {
  PolicyKind kind = PolicyKind::NetworkPolicy;
  if (o.kind == "CiliumNetworkPolicy") kind = PolicyKind::CiliumNetworkPolicy;
  if (o.kind == "CiliumClusterwideNetworkPolicy") kind = PolicyKind::CiliumClusterwideNetworkPolicy;
  std::string ns;
  if (kind != PolicyKind::CiliumClusterwideNetworkPolicy) ns = o.ns.empty() ? "default" : o.ns;
  std::string object = o.kind + " " + (ns.empty() ? "" : ns + "/") + o.name;
  Env e{
      .obj = o, .cluster = cluster, .kind = kind, .ns = ns, .ctx = YamlCtx(o.file, object, &diags)};
  repo.policy_count++;
  if (kind == PolicyKind::NetworkPolicy) {
    parseKnp(e, repo);
  } else {
    parseCnp(e, repo);
  }
}

}  // namespace membrane::model
