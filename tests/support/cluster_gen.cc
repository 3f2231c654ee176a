// SPDX-License-Identifier: Apache-2.0
#include "tests/support/cluster_gen.h"

#include <sstream>

namespace membrane::testing {
namespace {

const std::vector<std::string> kApps = {"web", "api", "db"};
const std::vector<std::string> kTiers = {"front", "back"};
const std::vector<std::string> kNamespaces = {"prod", "dev"};

rc::Gen<std::string> genSelector(bool allow_empty) {
  return rc::gen::oneOf(
      rc::gen::map(rc::gen::elementOf(kApps),
                   [](const std::string& a) { return "{matchLabels: {app: " + a + "}}"; }),
      rc::gen::map(rc::gen::elementOf(kTiers),
                   [](const std::string& t) {
                     return "{matchExpressions: [{key: tier, operator: In, values: [" + t + "]}]}";
                   }),
      rc::gen::map(rc::gen::elementOf(kApps),
                   [](const std::string& a) {
                     return "{matchExpressions: [{key: app, operator: NotIn, values: [" + a +
                            "]}]}";
                   }),
      rc::gen::just(std::string("{matchExpressions: [{key: tier, operator: Exists}]}")),
      rc::gen::just(std::string("{matchExpressions: [{key: tier, operator: DoesNotExist}]}")),
      rc::gen::just(std::string(allow_empty ? "{}" : "{matchLabels: {app: web}}")));
}

rc::Gen<std::string> genCnpPorts() {
  return rc::gen::oneOf(
      rc::gen::just(std::string("")),
      rc::gen::just(std::string("  toPorts: [{ports: [{port: \"80\", protocol: TCP}]}]\n")),
      rc::gen::just(std::string("  toPorts: [{ports: [{port: \"8080\", endPort: 8090, protocol: "
                                "TCP}, {port: \"53\", protocol: ANY}]}]\n")),
      rc::gen::just(std::string("  toPorts: [{ports: [{port: \"http\"}]}]\n")),
      rc::gen::just(std::string("  toPorts: [{ports: [{port: \"0\", protocol: UDP}]}]\n")),
      rc::gen::just(std::string("  toPorts: [{ports: [{port: \"80\", protocol: TCP}], rules: "
                                "{http: [{method: GET}]}}]\n")),
      rc::gen::just(std::string("  icmps: [{fields: [{type: 8}]}]\n")));
}

rc::Gen<std::string> genCnpPeer(bool ingress) {
  const std::string p = ingress ? "from" : "to";
  return rc::gen::oneOf(
      rc::gen::map(genSelector(true),
                   [p](const std::string& s) { return "  " + p + "Endpoints: [" + s + "]\n"; }),
      rc::gen::map(rc::gen::elementOf(
                       std::vector<std::string>{"world", "host", "remote-node", "cluster", "all"}),
                   [p](const std::string& e) { return "  " + p + "Entities: [" + e + "]\n"; }),
      rc::gen::map(
          rc::gen::elementOf(std::vector<std::string>{"1.0.0.0/8", "1.1.1.0/24", "0.0.0.0/0"}),
          [p](const std::string& c) {
            return "  " + p + "CIDRSet: [{cidr: " + c + ", except: [1.1.1.1/32]}]\n";
          }),
      rc::gen::just("  " + p + "Endpoints: [{matchLabels: {io.kubernetes.pod.namespace: dev}}]\n"),
      rc::gen::just(std::string("")));
}

rc::Gen<std::string> genCnp(int index) {
  return rc::gen::exec([index] {
    const bool clusterwide = *rc::gen::inRange(0, 5) == 0;
    std::ostringstream o;
    o << "apiVersion: cilium.io/v2\nkind: "
      << (clusterwide ? "CiliumClusterwideNetworkPolicy" : "CiliumNetworkPolicy")
      << "\nmetadata:\n  name: cnp-" << index << "\n";
    if (!clusterwide) o << "  namespace: " << *rc::gen::elementOf(kNamespaces) << "\n";
    o << "spec:\n  endpointSelector: " << *genSelector(true) << "\n";
    if (*rc::gen::inRange(0, 4) == 0) {
      o << "  enableDefaultDeny: {ingress: " << (*rc::gen::arbitrary<bool>() ? "true" : "false")
        << ", egress: " << (*rc::gen::arbitrary<bool>() ? "true" : "false") << "}\n";
    }
    const int sections = *rc::gen::inRange(1, 3);
    for (int s = 0; s < sections; ++s) {
      const int kind = *rc::gen::inRange(0, 4);
      const bool ingress = kind % 2 == 0;
      const bool deny = kind >= 2;
      o << "  " << (ingress ? "ingress" : "egress") << (deny ? "Deny" : "") << ":\n";
      std::string peer = *genCnpPeer(ingress);
      std::string ports = *genCnpPorts();
      if (deny && ports.find("rules") != std::string::npos) ports = "";
      std::string body = peer + ports;
      if (body.empty()) {
        o << "  - {}\n";
      } else {
        // "  key: ..." lines; the first becomes the list item "  - key: ...".
        std::string item;
        std::istringstream lines(body);
        std::string line;
        bool first = true;
        while (std::getline(lines, line)) {
          item += (first ? "  - " : "    ") + line.substr(2) + "\n";
          first = false;
        }
        o << item;
      }
    }
    return o.str();
  });
}

rc::Gen<std::string> genKnp(int index) {
  return rc::gen::exec([index] {
    std::ostringstream o;
    o << "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: knp-" << index
      << "\n  namespace: " << *rc::gen::elementOf(kNamespaces)
      << "\nspec:\n  podSelector: " << *genSelector(true) << "\n";
    const int types = *rc::gen::inRange(0, 3);
    if (types == 1) o << "  policyTypes: [Ingress, Egress]\n";
    if (types == 2) o << "  policyTypes: [Egress]\n";
    for (const char* dir : {"ingress", "egress"}) {
      if (*rc::gen::inRange(0, 3) == 0) continue;
      const std::string peer = std::string(dir) == "ingress" ? "from" : "to";
      o << "  " << dir << ":\n  - " << peer << ":\n";
      const int which = *rc::gen::inRange(0, 4);
      if (which == 0) o << "    - podSelector: " << *genSelector(true) << "\n";
      if (which == 1)
        o << "    - namespaceSelector: {matchLabels: {env: " << *rc::gen::elementOf(kNamespaces)
          << "}}\n";
      if (which == 2) o << "    - ipBlock: {cidr: 1.0.0.0/8, except: [1.1.1.0/24]}\n";
      if (which == 3)
        o << "    - namespaceSelector: {}\n      podSelector: " << *genSelector(false) << "\n";
      if (*rc::gen::arbitrary<bool>())
        o << "    ports: [{port: 80}, {port: 8080, endPort: 8085}, {port: http}]\n";
    }
    return o.str();
  });
}

}  // namespace

rc::Gen<GeneratedCluster> genCluster() {
  return rc::gen::exec([] {
    std::ostringstream o;
    for (const auto& ns : kNamespaces) {
      o << "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " << ns
        << "\n  labels: {env: " << ns << "}\n---\n";
    }
    for (int n = 1; n <= 2; ++n) {
      o << "apiVersion: v1\nkind: Node\nmetadata:\n  name: node-" << n
        << "\nspec:\n  podCIDR: 10.0." << n
        << ".0/24\nstatus:\n  addresses:\n  - {type: InternalIP, address: 172.18.0." << n + 1
        << "}\n---\n";
    }
    const int pods = *rc::gen::inRange(2, 7);
    for (int i = 0; i < pods; ++i) {
      o << "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p" << i
        << "\n  namespace: " << *rc::gen::elementOf(kNamespaces)
        << "\n  labels: {app: " << *rc::gen::elementOf(kApps);
      if (*rc::gen::arbitrary<bool>()) o << ", tier: " << *rc::gen::elementOf(kTiers);
      o << "}\nspec:\n  nodeName: node-" << (1 + i % 2)
        << "\n  containers:\n  - name: c\n    ports:\n"
        << "    - {name: http, containerPort: "
        << *rc::gen::elementOf(std::vector<int>{80, 8080, 8081})
        << ", protocol: TCP}\nstatus:\n  podIP: 10.0." << (1 + i % 2) << "." << (10 + i)
        << "\n---\n";
    }
    const int policies = *rc::gen::inRange(0, 5);
    for (int i = 0; i < policies; ++i) {
      o << (*rc::gen::inRange(0, 3) == 0 ? *genKnp(i) : *genCnp(i)) << "---\n";
    }
    return GeneratedCluster{o.str()};
  });
}

rc::Gen<model::Flow> genFlow(const model::Cluster& c) {
  std::vector<model::FlowEndpoint> eps;
  for (size_t i = 0; i < c.pods.size(); ++i) eps.push_back({.pod = i, .ip = *c.pods[i].ip});
  for (const auto& n : c.nodes) eps.push_back({.ip = *n.internal_ip});
  for (const char* ip : {"1.1.1.1", "1.2.3.4", "8.8.8.8", "1.1.1.77"}) {
    eps.push_back({.ip = *model::parseIpv4(ip)});
  }
  return rc::gen::exec([eps] {
    model::Flow f;
    f.src = *rc::gen::elementOf(eps);
    f.dst = *rc::gen::elementOf(eps);
    f.protocol = *rc::gen::elementOf(std::vector<uint8_t>{model::kProtoTCP, model::kProtoTCP,
                                                          model::kProtoUDP, model::kProtoSCTP,
                                                          model::kProtoICMP});
    f.port = f.protocol == model::kProtoICMP ? *rc::gen::elementOf(std::vector<uint16_t>{0, 8})
                                             : *rc::gen::elementOf(std::vector<uint16_t>{
                                                   53, 80, 81, 443, 8080, 8081, 8085, 8090, 9000});
    return f;
  });
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
