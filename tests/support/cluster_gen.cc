// SPDX-License-Identifier: Apache-2.0
#include "tests/support/cluster_gen.h"

#include <map>
#include <set>
#include <sstream>

namespace membrane::testing {
namespace {

// Label keys and their values. Each generated requirement names one of these keys; values
// outside the domain ("zzz") select nothing, which the views must agree on too.
struct LabelDomain {
  std::string key;
  std::vector<std::string> values;
};
const std::vector<LabelDomain> kPodLabels = {
    {"app", {"web", "api", "db"}}, {"tier", {"front", "back"}}, {"team", {"a", "b"}}};
// Namespace labels as KNP namespaceSelectors see them (kubernetes.io/metadata.name is set
// by the loader like the API server does).
const std::vector<LabelDomain> kNamespaceLabels = {
    {"env", {"prod", "dev"}},
    {"team", {"a", "b"}},
    {"kubernetes.io/metadata.name", {"prod", "dev", "ops"}}};
const std::vector<std::string> kNamespaces = {"prod", "dev", "ops"};
const std::map<std::string, std::string> kNamespaceLabelText = {
    {"prod", "{env: prod, team: a}"}, {"dev", "{env: dev}"}, {"ops", "{team: b}"}};
// Policy CIDRs and their exceptions; probeAddresses() probes both sides of every edge.
const std::vector<std::pair<std::string, std::vector<std::string>>> kCidrs = {
    {"1.0.0.0/8", {"1.1.1.0/24", "1.2.3.4/32"}},
    {"1.1.1.0/24", {"1.1.1.128/25"}},
    {"0.0.0.0/0", {"10.0.0.0/8"}},
    {"8.8.8.8/32", {}},
    {"172.18.0.0/16", {"172.18.0.2/32"}},
    {"10.0.1.0/24", {"10.0.1.0/28"}}};
const std::vector<std::string> kNamedPorts = {"http", "metrics", "dns", "nosuch"};
const std::vector<uint16_t> kPortPool = {53, 79, 80, 81, 443, 8080, 8085, 9090, 65535};

struct Requirement {
  std::string key;
  std::string op;  // "=" (matchLabels), In, NotIn, Exists, DoesNotExist
  std::vector<std::string> values;
};

rc::Gen<Requirement> genRequirement(const std::vector<LabelDomain>& domains,
                                    const std::string& key_prefix) {
  return rc::gen::exec([domains, key_prefix] {
    const LabelDomain& d = *rc::gen::elementOf(domains);
    Requirement r{
        .key = key_prefix + d.key,
        .op = *rc::gen::element<std::string>("=", "=", "In", "NotIn", "Exists", "DoesNotExist")};
    std::vector<std::string> pool = d.values;
    pool.push_back("zzz");
    if (r.op == "=") r.values = {*rc::gen::elementOf(pool)};
    if (r.op == "In" || r.op == "NotIn") {
      const std::string a = *rc::gen::elementOf(pool);
      r.values = {a};
      const std::string b = *rc::gen::elementOf(pool);
      if (b != a && *rc::gen::arbitrary<bool>()) r.values.push_back(b);
    }
    return r;
  });
}

// "{matchLabels: {...}, matchExpressions: [...]}" ("{}" without requirements).
std::string selectorYaml(const std::vector<Requirement>& reqs) {
  std::map<std::string, std::string> labels;
  std::string exprs;
  for (const Requirement& r : reqs) {
    if (r.op == "=") {
      labels.emplace(r.key, r.values[0]);  // the first one of a key wins
      continue;
    }
    exprs += std::string(exprs.empty() ? "" : ", ") + "{key: " + r.key + ", operator: " + r.op;
    if (!r.values.empty()) {
      exprs += ", values: [";
      for (size_t i = 0; i < r.values.size(); ++i) exprs += (i ? ", " : "") + r.values[i];
      exprs += "]";
    }
    exprs += "}";
  }
  std::string out;
  if (!labels.empty()) {
    out += "matchLabels: {";
    bool first = true;
    for (const auto& [k, v] : labels) {
      out += std::string(first ? "" : ", ") + k + ": " + v;
      first = false;
    }
    out += "}";
  }
  if (!exprs.empty())
    out += std::string(out.empty() ? "" : ", ") + "matchExpressions: [" + exprs + "]";
  return "{" + out + "}";
}

// 0..3 (min_reqs..3) requirements over the pod labels.
rc::Gen<std::string> genPodSelector(int min_reqs) {
  return rc::gen::exec([min_reqs] {
    const int n = *rc::gen::inRange(min_reqs, 4);
    std::vector<Requirement> reqs;
    for (int i = 0; i < n; ++i) reqs.push_back(*genRequirement(kPodLabels, ""));
    return selectorYaml(reqs);
  });
}

// A CNP endpoint selector for peers: pod requirements plus, sometimes, a namespace
// requirement (by name or by a namespace label).
rc::Gen<std::string> genCnpPeerSelector() {
  return rc::gen::exec([] {
    std::vector<Requirement> reqs;
    const int n = *rc::gen::inRange(0, 3);
    for (int i = 0; i < n; ++i) reqs.push_back(*genRequirement(kPodLabels, ""));
    switch (*rc::gen::inRange(0, 4)) {
      case 0:
        reqs.push_back(*genRequirement({{"io.kubernetes.pod.namespace", kNamespaces}}, ""));
        break;
      case 1:
        reqs.push_back(
            *genRequirement({kNamespaceLabels[0], kNamespaceLabels[1]},
                            *rc::gen::element<std::string>("io.cilium.k8s.namespace.labels.",
                                                           "k8s:io.cilium.k8s.namespace.labels.")));
        break;
      default:
        break;
    }
    return selectorYaml(reqs);
  });
}

std::string cidrYaml(const std::pair<std::string, std::vector<std::string>>& c, bool except) {
  std::string s = "{cidr: " + c.first;
  if (except && !c.second.empty()) {
    s += ", except: [";
    for (size_t i = 0; i < c.second.size(); ++i) s += (i ? ", " : "") + c.second[i];
    s += "]";
  }
  return s + "}";
}

// One L3 peer line of a CNP section ("" = no L3: L4-only or select-nothing).
rc::Gen<std::string> genCnpPeer(bool ingress) {
  const std::string p = ingress ? "from" : "to";
  return rc::gen::exec([p] {
    switch (*rc::gen::inRange(0, 6)) {
      case 0:
      case 1: {
        std::string s = p + "Endpoints: [" + *genCnpPeerSelector();
        if (*rc::gen::inRange(0, 3) == 0) s += ", " + *genCnpPeerSelector();
        return s + "]";
      }
      case 2: {
        const std::vector<std::string> all = {"world", "host", "remote-node", "cluster", "all"};
        std::string s = p + "Entities: [" + *rc::gen::elementOf(all);
        if (*rc::gen::arbitrary<bool>()) s += ", " + *rc::gen::elementOf(all);
        return s + "]";
      }
      case 3:
        return p + "CIDRSet: [" + cidrYaml(*rc::gen::elementOf(kCidrs), true) + "]";
      case 4:
        return p + "CIDR: [" + (*rc::gen::elementOf(kCidrs)).first + "]";
      default:
        return std::string();
    }
  });
}

std::string protocolYaml() {
  return *rc::gen::element<std::string>("TCP", "TCP", "UDP", "SCTP", "ANY");
}

// One PortProtocol: a port, a range (endPort), a named port or every port.
rc::Gen<std::string> genCnpPort() {
  return rc::gen::exec([] {
    switch (*rc::gen::inRange(0, 5)) {
      case 0:
      case 1:
        return "{port: \"" + std::to_string(*rc::gen::elementOf(kPortPool)) +
               "\", protocol: " + protocolYaml() + "}";
      case 2: {
        const uint16_t start = *rc::gen::elementOf(kPortPool);
        const int end = std::min(65535, start + *rc::gen::inRange(1, 16));
        return "{port: \"" + std::to_string(start) + "\", endPort: " + std::to_string(end) +
               ", protocol: " + protocolYaml() + "}";
      }
      case 3:
        return "{port: " + *rc::gen::elementOf(kNamedPorts) + "}";
      default:
        return "{port: \"0\", protocol: " + protocolYaml() + "}";
    }
  });
}

// "rules: {...}" for an allow section, or "" (no L7). DNS is egress only.
std::string genL7(bool ingress) {
  switch (*rc::gen::inRange(0, 6)) {
    case 0:
      return "rules: {http: [{method: GET, path: /x}]}";
    case 1:
      return ingress ? "rules: {kafka: [{topic: t}]}"
                     : "rules: {dns: [{matchPattern: \"*\"}, {matchName: a.b}]}";
    default:
      return "";
  }
}

// The L4 line of a CNP section ("" = every port and protocol).
std::string genCnpL4(bool ingress, bool deny) {
  switch (*rc::gen::inRange(0, 5)) {
    case 0:
      return "";
    case 1:
      return "icmps: [{fields: [{type: " + std::to_string(*rc::gen::element(0, 8, 13)) +
             "}, {type: EchoRequest}]}]";
    default: {
      std::string items;
      const int n = *rc::gen::inRange(1, 3);
      for (int i = 0; i < n; ++i) {
        std::string ports;
        const int k = *rc::gen::inRange(1, 4);
        for (int j = 0; j < k; ++j) ports += (j ? ", " : "") + *genCnpPort();
        std::string item = "{ports: [" + ports + "]";
        const std::string l7 = deny ? "" : genL7(ingress);
        if (!l7.empty()) item += ", " + l7;
        items += (i ? ", " : "") + item + "}";
      }
      return "toPorts: [" + items + "]";
    }
  }
}

// One rule of a CNP section as a flow map ("{}" selects nothing).
std::string genCnpRule(bool ingress, bool deny) {
  std::string peer = *genCnpPeer(ingress);
  std::string l4 = genCnpL4(ingress, deny);
  std::string body = peer;
  if (!l4.empty()) body += std::string(body.empty() ? "" : ", ") + l4;
  return "{" + body + "}";
}

rc::Gen<std::string> genCnp(int index) {
  return rc::gen::exec([index] {
    const bool clusterwide = *rc::gen::inRange(0, 5) == 0;
    std::ostringstream o;
    o << "apiVersion: cilium.io/v2\nkind: "
      << (clusterwide ? "CiliumClusterwideNetworkPolicy" : "CiliumNetworkPolicy")
      << "\nmetadata:\n  name: cnp-" << index << "\n";
    if (!clusterwide) o << "  namespace: " << *rc::gen::elementOf(kNamespaces) << "\n";
    o << "spec:\n  endpointSelector: " << *genPodSelector(0) << "\n";
    if (*rc::gen::inRange(0, 4) == 0) {
      o << "  enableDefaultDeny: {ingress: " << (*rc::gen::arbitrary<bool>() ? "true" : "false")
        << ", egress: " << (*rc::gen::arbitrary<bool>() ? "true" : "false") << "}\n";
    }
    // Each section kind at most once (a YAML map key); at least one (the CRD requires it).
    const std::vector<std::string> kinds = {"ingress", "egress", "ingressDeny", "egressDeny"};
    const std::string must = *rc::gen::elementOf(kinds);
    for (const std::string& section : kinds) {
      if (section != must && *rc::gen::inRange(0, 3) != 0) continue;
      const std::string s = section;
      const bool ingress = s.starts_with("ingress");
      const bool deny = s.ends_with("Deny");
      o << "  " << s << ":\n";
      const int rules = *rc::gen::inRange(1, 3);
      for (int r = 0; r < rules; ++r) o << "  - " << genCnpRule(ingress, deny) << "\n";
    }
    return o.str();
  });
}

std::string genKnpPorts() {
  std::string out;
  const int n = *rc::gen::inRange(1, 4);
  for (int i = 0; i < n; ++i) {
    const std::string proto = *rc::gen::element<std::string>("TCP", "TCP", "UDP", "SCTP");
    std::string p;
    switch (*rc::gen::inRange(0, 3)) {
      case 0:
        p = "{port: " + std::to_string(*rc::gen::elementOf(kPortPool)) + ", protocol: " + proto +
            "}";
        break;
      case 1: {
        const uint16_t start = *rc::gen::elementOf(kPortPool);
        const int end = std::min(65535, start + *rc::gen::inRange(1, 16));
        p = "{port: " + std::to_string(start) + ", endPort: " + std::to_string(end) +
            ", protocol: " + proto + "}";
        break;
      }
      default:
        p = "{port: " + *rc::gen::elementOf(kNamedPorts) + ", protocol: " + proto + "}";
        break;
    }
    out += (i ? ", " : "") + p;
  }
  return "ports: [" + out + "]";
}

// 0..2 requirements over the namespace labels.
std::string genNamespaceSelector() {
  const int n = *rc::gen::inRange(0, 3);
  std::vector<Requirement> reqs;
  for (int i = 0; i < n; ++i) reqs.push_back(*genRequirement(kNamespaceLabels, ""));
  return selectorYaml(reqs);
}

// One NetworkPolicy peer (a flow map).
std::string genKnpPeer() {
  switch (*rc::gen::inRange(0, 4)) {
    case 0:
      return "{podSelector: " + *genPodSelector(0) + "}";
    case 1:
      return "{namespaceSelector: " + genNamespaceSelector() + "}";
    case 2:
      return "{namespaceSelector: " + genNamespaceSelector() +
             ", podSelector: " + *genPodSelector(1) + "}";
    default:
      return "{ipBlock: " + cidrYaml(*rc::gen::elementOf(kCidrs), *rc::gen::arbitrary<bool>()) +
             "}";
  }
}

rc::Gen<std::string> genKnp(int index) {
  return rc::gen::exec([index] {
    std::ostringstream o;
    o << "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: knp-" << index
      << "\n  namespace: " << *rc::gen::elementOf(kNamespaces)
      << "\nspec:\n  podSelector: " << *genPodSelector(0) << "\n";
    const int types = *rc::gen::inRange(0, 4);
    if (types == 1) o << "  policyTypes: [Ingress, Egress]\n";
    if (types == 2) o << "  policyTypes: [Egress]\n";
    if (types == 3) o << "  policyTypes: [Ingress]\n";
    for (const char* dir : {"ingress", "egress"}) {
      if (*rc::gen::inRange(0, 3) == 0) continue;
      const std::string peer = std::string(dir) == "ingress" ? "from" : "to";
      o << "  " << dir << ":\n";
      const int rules = *rc::gen::inRange(1, 3);
      for (int r = 0; r < rules; ++r) {
        std::string rule;
        if (*rc::gen::inRange(0, 4) != 0) {
          std::string peers = genKnpPeer();
          if (*rc::gen::inRange(0, 3) == 0) peers += ", " + genKnpPeer();
          rule = peer + ": [" + peers + "]";
        }
        if (*rc::gen::arbitrary<bool>())
          rule += std::string(rule.empty() ? "" : ", ") + genKnpPorts();
        o << "  - {" << rule << "}\n";
      }
    }
    return o.str();
  });
}

std::string genPod(int i) {
  std::ostringstream o;
  o << "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p" << i
    << "\n  namespace: " << *rc::gen::elementOf(kNamespaces)
    << "\n  labels: {app: " << *rc::gen::elementOf(kPodLabels[0].values);
  if (*rc::gen::arbitrary<bool>()) o << ", tier: " << *rc::gen::elementOf(kPodLabels[1].values);
  if (*rc::gen::arbitrary<bool>()) o << ", team: " << *rc::gen::elementOf(kPodLabels[2].values);
  o << "}\nspec:\n  nodeName: node-" << (1 + i % 2) << "\n  containers:\n  - name: c\n    ports:\n"
    << "    - {name: http, containerPort: " << *rc::gen::element(80, 8080, 8081)
    << ", protocol: TCP}\n";
  if (*rc::gen::arbitrary<bool>()) {
    o << "    - {name: metrics, containerPort: " << *rc::gen::element(9090, 8085)
      << ", protocol: " << *rc::gen::element<std::string>("TCP", "SCTP") << "}\n";
  }
  if (*rc::gen::arbitrary<bool>()) o << "    - {name: dns, containerPort: 53, protocol: UDP}\n";
  o << "status:\n  podIP: 10.0." << (1 + i % 2) << "." << (10 + i) << "\n---\n";
  return o.str();
}

}  // namespace

void showValue(const GeneratedCluster& g, std::ostream& os) {
  os << "\n# --- generated manifests (load with loadClusterFromTexts or `membrane explain`) ---\n"
     << g.yaml << "# --- end of manifests ---\n";
}

// RapidCheck scales inRange() with the test's size (small early cases): pinning the size
// keeps every feature reachable in every case; the counts are small anyway.
constexpr int kGenSize = 100;

rc::Gen<GeneratedCluster> genCluster() {
  return rc::gen::resize(
      kGenSize, rc::gen::exec([] {
        std::ostringstream o;
        for (const auto& ns : kNamespaces) {
          o << "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " << ns
            << "\n  labels: " << kNamespaceLabelText.at(ns) << "\n---\n";
        }
        for (int n = 1; n <= 2; ++n) {
          o << "apiVersion: v1\nkind: Node\nmetadata:\n  name: node-" << n
            << "\nspec:\n  podCIDR: 10.0." << n
            << ".0/24\nstatus:\n  addresses:\n  - {type: InternalIP, address: 172.18.0." << n + 1
            << "}\n---\n";
        }
        const int pods = *rc::gen::inRange(2, 7);
        for (int i = 0; i < pods; ++i) o << genPod(i);
        const int policies = *rc::gen::inRange(0, 5);
        for (int i = 0; i < policies; ++i) {
          o << (*rc::gen::inRange(0, 3) == 0 ? *genKnp(i) : *genCnp(i)) << "---\n";
        }
        return GeneratedCluster{o.str()};
      }));
}

std::vector<uint16_t> probePorts(const model::Cluster& c, uint8_t proto) {
  std::set<uint16_t> out;
  auto boundary = [&](uint16_t lo, uint16_t hi) {
    if (lo > 0) out.insert(lo - 1);
    out.insert(lo);
    out.insert(hi);
    if (hi < 65535) out.insert(hi + 1);
  };
  if (proto == model::kProtoICMP) {
    out = {0, 8, 13};
    for (const auto& r : c.policies.rules) out.insert(r.icmp_types.begin(), r.icmp_types.end());
    return {out.begin(), out.end()};
  }
  out = {53, 80, 443, 8080};
  for (const auto& r : c.policies.rules) {
    for (const auto& p : r.ports) {
      if (p.name.empty()) boundary(p.port, p.end_port);
    }
  }
  for (const auto& pod : c.pods) {
    for (const auto& cp : pod.ports) {
      if (cp.protocol == proto) boundary(cp.port, cp.port);
    }
  }
  return {out.begin(), out.end()};
}

std::vector<model::Ipv4> probeAddresses(const model::Cluster& c) {
  std::set<model::Ipv4> out;
  for (const char* ip : {"1.1.1.1", "1.2.3.4", "8.8.8.8", "9.9.9.9", "172.18.0.9"}) {
    out.insert(*model::parseIpv4(ip));
  }
  std::set<model::Ipv4> pods, nodes;
  for (const auto& p : c.pods) pods.insert(*p.ip);
  for (const auto& n : c.nodes) nodes.insert(*n.internal_ip);
  for (const auto& [id, ident] : c.identities) {
    if (ident.kind != model::IdentityKind::Cidr || !ident.cidr) continue;
    const model::Cidr& cidr = *ident.cidr;
    // Both sides of each edge (0.0.0.0 and 255.255.255.255 are no hosts: skipped).
    for (uint64_t a : {uint64_t{cidr.first()} - 1, uint64_t{cidr.first()}, uint64_t{cidr.last()},
                       uint64_t{cidr.last()} + 1}) {
      if (a == 0 || a >= 0xFFFFFFFFull) continue;
      out.insert(static_cast<model::Ipv4>(a));
    }
  }
  for (model::Ipv4 a : pods) out.erase(a);
  for (model::Ipv4 a : nodes) out.erase(a);
  return {out.begin(), out.end()};
}

rc::Gen<model::Flow> genFlow(const model::Cluster& c) {
  std::vector<model::FlowEndpoint> eps;
  for (size_t i = 0; i < c.pods.size(); ++i) eps.push_back({.pod = i, .ip = *c.pods[i].ip});
  for (const auto& n : c.nodes) eps.push_back({.ip = *n.internal_ip});
  for (model::Ipv4 a : probeAddresses(c)) eps.push_back({.ip = a});
  std::map<uint8_t, std::vector<uint16_t>> ports;
  for (uint8_t p : {model::kProtoTCP, model::kProtoUDP, model::kProtoSCTP, model::kProtoICMP}) {
    ports[p] = probePorts(c, p);
  }
  return rc::gen::resize(kGenSize, rc::gen::exec([eps, ports] {
                           model::Flow f;
                           f.src = *rc::gen::elementOf(eps);
                           f.dst = *rc::gen::elementOf(eps);
                           f.protocol = *rc::gen::element(model::kProtoTCP, model::kProtoTCP,
                                                          model::kProtoUDP, model::kProtoSCTP,
                                                          model::kProtoICMP);
                           f.port = *rc::gen::elementOf(ports.at(f.protocol));
                           return f;
                         }));
}

std::string describeFlow(const model::Cluster& c, const model::Flow& f) {
  auto end = [&](const model::FlowEndpoint& e) {
    const std::string ip = model::formatIpv4(e.ip);
    return e.pod ? c.pods[*e.pod].ref() + " (" + ip + ")" : ip;
  };
  std::string s =
      end(f.src) + " -> " + end(f.dst) + " " + std::string(model::protocolName(f.protocol));
  s += f.protocol == model::kProtoICMP ? " type " + std::to_string(f.port)
                                       : " " + std::to_string(f.port);
  return s;
}

model::LoadResult loadGenerated(const GeneratedCluster& g) {
  auto r = model::loadClusterFromTexts({{"generated.yaml", g.yaml}});
  if (!r.diags.ok()) {
    std::string msg;
    for (const auto& e : r.diags.errors()) msg += e.str() + "\n";
    RC_FAIL("generated cluster does not load:\n" + msg + g.yaml);
  }
  return r;
}

}  // namespace membrane::testing

namespace membrane::model {

void showValue(const Flow& f, std::ostream& os) {
  auto end = [&](const FlowEndpoint& e) {
    return (e.pod ? "pod #" + std::to_string(*e.pod) + " " : std::string()) + formatIpv4(e.ip);
  };
  os << end(f.src) << " -> " << end(f.dst) << " " << protocolName(f.protocol)
     << (f.protocol == kProtoICMP ? " type " : " ") << f.port;
}

}  // namespace membrane::model
