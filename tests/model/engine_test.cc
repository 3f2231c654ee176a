// SPDX-License-Identifier: Apache-2.0
#include "model/engine.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>

#include "model/connectivity.h"
#include "model/explain.h"
#include "model/loader.h"
#include "tests/support/cluster_gen.h"

namespace membrane::model {
namespace {

constexpr const char* kPods = R"(
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 172.18.0.2}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: prod, labels: {app: web}}
spec: {nodeName: n1, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: prod, labels: {app: db}}
spec: {nodeName: n1, containers: [{name: c, ports: [{name: pg, containerPort: 5432}]}]}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: dev, labels: {app: web}}
status: {podIP: 10.0.0.3}
)";

struct Fixture {
  LoadResult r;
  std::unique_ptr<Engine> engine;
  explicit Fixture(const std::string& policies)
      : r(loadClusterFromTexts({{"t.yaml", std::string(kPods) + "---\n" + policies}})) {
    engine = std::make_unique<Engine>(r.cluster);
  }
  FlowEndpoint pod(const char* ns, const char* name) const {
    auto i = r.cluster.findPod(ns, name);
    return {.pod = i, .ip = *r.cluster.pods[*i].ip};
  }
  Verdict eval(FlowEndpoint s, FlowEndpoint d, uint16_t port, uint8_t proto = kProtoTCP) const {
    return engine->evaluate({.src = s, .dst = d, .protocol = proto, .port = port});
  }
};

FlowEndpoint ip(const char* s) { return {.ip = *parseIpv4(s)}; }

TEST(Engine, NoPolicyAllowsEverything) {
  Fixture f("");
  auto v = f.eval(f.pod("prod", "web"), f.pod("prod", "db"), 5432);
  EXPECT_TRUE(v.allowed);
  EXPECT_EQ(v.egress.reason, DecisionReason::NoPolicy);
}

TEST(Engine, CnpEmptyIngressRuleMeansDefaultDeny) {
  Fixture f(
      "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: prod}\n"
      "spec: {endpointSelector: {}, ingress: [{}]}\n");
  auto v = f.eval(f.pod("prod", "web"), f.pod("prod", "db"), 5432);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.ingress.reason, DecisionReason::DefaultDeny);
  EXPECT_TRUE(f.eval(f.pod("prod", "web"), ip("1.1.1.1"), 80).allowed) << "egress untouched";
}

TEST(Engine, KnpEmptyIngressRuleAllowsAll) {
  Fixture f(
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: "
      "prod}\n"
      "spec: {podSelector: {}, ingress: [{}]}\n");
  EXPECT_TRUE(f.eval(f.pod("dev", "other"), f.pod("prod", "db"), 5432).allowed);
}

TEST(Engine, DenyBeatsAllowRegardlessOfSpecificity) {
  Fixture f(R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: web}}]
    toPorts: [{ports: [{port: "5432", protocol: TCP}]}]
  ingressDeny:
  - fromEndpoints: [{matchLabels: {app: web}}]
)");
  auto v = f.eval(f.pod("prod", "web"), f.pod("prod", "db"), 5432);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.ingress.reason, DecisionReason::DeniedByRule);
  ASSERT_EQ(v.ingress.rules.size(), 1u);
  EXPECT_TRUE(f.r.cluster.policies.rules[v.ingress.rules[0]].deny);
  // The compiled map agrees: the L3 deny covers the L4 allow.
  auto st = f.engine->compile(*f.r.cluster.findPod("prod", "db"));
  auto hit = lookupMapState(st, f.r.cluster.pods[0].identity, Direction::Ingress, kProtoTCP, 5432);
  ASSERT_TRUE(hit.found);
  EXPECT_EQ(hit.value.verdict, EntryVerdict::Deny);
}

TEST(Engine, NamespaceScopingOfPeers) {
  Fixture f(R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress: [{fromEndpoints: [{matchLabels: {app: web}}]}]
)");
  EXPECT_TRUE(f.eval(f.pod("prod", "web"), f.pod("prod", "db"), 5432).allowed);
  EXPECT_FALSE(f.eval(f.pod("dev", "other"), f.pod("prod", "db"), 5432).allowed)
      << "app=web in dev is another namespace";
}

TEST(Engine, NamedPortsResolvePerEndpoint) {
  Fixture f(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress: [{ports: [{port: pg}]}]
  egress: [{ports: [{port: http}, {port: pg}]}]
)");
  EXPECT_TRUE(f.eval(f.pod("prod", "web"), f.pod("prod", "db"), 5432).allowed);
  EXPECT_FALSE(f.eval(f.pod("prod", "db"), f.pod("prod", "web"), 8080).allowed)
      << "web has no port named pg";
  EXPECT_FALSE(f.eval(f.pod("prod", "web"), ip("8.8.8.8"), 5432).allowed)
      << "external peers have no named ports";
}

TEST(Engine, HostAndRemoteNodeAndAllowLocalhost) {
  Fixture f(
      "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: prod}\n"
      "spec: {endpointSelector: {}, ingress: [{}], egress: [{toEntities: [host]}]}\n");
  auto v = f.eval(ip("172.18.0.2"), f.pod("prod", "db"), 80);
  EXPECT_TRUE(v.allowed);
  EXPECT_EQ(v.ingress.reason, DecisionReason::AllowLocalhost);
  EXPECT_EQ(v.ingress.peer_identity, kIdentityHost);
  EXPECT_TRUE(f.eval(f.pod("prod", "db"), ip("172.18.0.2"), 22).allowed);
  EXPECT_FALSE(f.eval(f.pod("prod", "db"), ip("1.1.1.1"), 22).allowed);
}

TEST(Engine, CidrExceptAndWorld) {
  Fixture f(R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress: [{toCIDRSet: [{cidr: 1.0.0.0/8, except: [1.1.1.0/24]}]}]
)");
  EXPECT_TRUE(f.eval(f.pod("prod", "web"), ip("1.2.3.4"), 443).allowed);
  EXPECT_FALSE(f.eval(f.pod("prod", "web"), ip("1.1.1.1"), 443).allowed);
  EXPECT_FALSE(f.eval(f.pod("prod", "web"), ip("8.8.8.8"), 443).allowed);
  EXPECT_FALSE(f.eval(f.pod("prod", "web"), f.pod("prod", "db"), 5432).allowed)
      << "CIDR rules never select pods";
}

TEST(Engine, PortRangeToPrefixesIsExactAndMinimal) {
  auto p = portRangeToPrefixes(8080, 8090);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0], std::make_pair(uint16_t{8080}, uint8_t{13}));
  EXPECT_EQ(p[1], std::make_pair(uint16_t{8088}, uint8_t{15}));
  EXPECT_EQ(p[2], std::make_pair(uint16_t{8090}, uint8_t{16}));
  EXPECT_EQ(portRangeToPrefixes(0, 65535).size(), 1u);
}

RC_GTEST_PROP(EngineProperty, PortPrefixesCoverExactlyTheRange, (uint16_t a, uint16_t b)) {
  const uint16_t lo = std::min(a, b), hi = std::max(a, b);
  auto prefixes = portRangeToPrefixes(lo, hi);
  const uint16_t probes[] = {lo, hi, static_cast<uint16_t>(lo - 1), static_cast<uint16_t>(hi + 1),
                             static_cast<uint16_t>((lo + hi) / 2)};
  for (uint16_t p : probes) {
    bool covered = false;
    for (auto [port, bits] : prefixes) {
      MapKey k{.protocol = kProtoTCP, .port = port, .prefix_len = static_cast<uint8_t>(8 + bits)};
      covered |= keyCovers(k, kProtoTCP, p);
    }
    RC_ASSERT(covered == (p >= lo && p <= hi));
  }
}

// The bridge between the reference semantics and the datapath: looking a flow up in the
// compiled map state gives evaluate()'s verdict, for each side (1,000 random clusters).
TEST(EngineProperty, CompiledLookupEqualsEvaluate) {
  testing::checkGTestProp(1000, [] {
    const auto g = *testing::genCluster();
    auto loaded = testing::loadGenerated(g);
    const Cluster& c = loaded.cluster;
    Engine engine(c);
    for (int i = 0; i < 20; ++i) {
      const Flow f = *testing::genFlow(c);
      if (f.src.pod && f.dst.pod && *f.src.pod == *f.dst.pod) continue;
      const Verdict v = engine.evaluate(f);
      auto check = [&](size_t pod, const SideDecision& d) {
        const MapState st = engine.compile(pod);
        const MapLookup hit = lookupMapState(st, d.peer_identity, d.direction, f.protocol, f.port);
        RC_LOG() << "flow " << testing::describeFlow(c, f) << " side " << directionName(d.direction)
                 << ": " << explainSide(engine, d) << "\n";
        // Fail closed: a redirect entry (L7 rules, no proxy) is L7-restricted, not allowed.
        const bool allowed = hit.found && hit.value.verdict == EntryVerdict::Allow;
        const bool l7 = hit.found && hit.value.verdict == EntryVerdict::Redirect;
        RC_ASSERT(allowed == d.allowed);
        RC_ASSERT(l7 == d.l7_restricted);
        RC_ASSERT(l7 == !d.l7.empty());
        if (hit.found) RC_ASSERT(hit.value.precedence == d.precedence);
      };
      if (f.src.pod) check(*f.src.pod, v.egress);
      if (f.dst.pod) check(*f.dst.pod, v.ingress);
    }
  });
}

// sideConns (used by connectivity) agrees with decide() at every port boundary the
// policies use (start-1, start, end, end+1), for TCP, UDP, SCTP and ICMP.
TEST(EngineProperty, AllowedConnsAgreesWithDecide) {
  testing::checkGTestProp(1000, [] {
    const auto g = *testing::genCluster();
    auto loaded = testing::loadGenerated(g);
    const Cluster& c = loaded.cluster;
    Engine engine(c);
    const size_t pod = *rc::gen::inRange<size_t>(0, c.pods.size());
    const Direction dir = *rc::gen::arbitrary<bool>() ? Direction::Ingress : Direction::Egress;
    const std::vector<IdentityId> peers = {
        c.pods[*rc::gen::inRange<size_t>(0, c.pods.size())].identity, kIdentityWorld, kIdentityHost,
        kIdentityRemoteNode, engine.resolve(*rc::gen::elementOf(testing::probeAddresses(c)), "")};
    const IdentityId peer = *rc::gen::elementOf(peers);
    const SideConns s = sideConns(engine, pod, dir, peer);
    RC_ASSERT(allowedConns(engine, pod, dir, peer) == s.allowed);
    RC_ASSERT(s.allowed.intersect(s.l7).empty());
    for (size_t i = 0; i < ConnSet::kPortProtocols.size(); ++i) {
      const uint8_t proto = ConnSet::kPortProtocols[i];
      for (uint16_t port : testing::probePorts(c, proto)) {
        const SideDecision d = engine.decide(pod, dir, peer, proto, port);
        RC_LOG() << c.pods[pod].ref() << " " << directionName(dir) << " peer " << peer << " "
                 << protocolName(proto) << " " << port << ": " << explainSide(engine, d) << "\n";
        RC_ASSERT(s.allowed.ports[i].contains(port) == d.allowed);
        RC_ASSERT(s.l7.ports[i].contains(port) == d.l7_restricted);
      }
    }
    for (uint16_t type : testing::probePorts(c, kProtoICMP)) {
      const SideDecision d = engine.decide(pod, dir, peer, kProtoICMP, type);
      RC_ASSERT(s.allowed.icmp.contains(type) == d.allowed);
      RC_ASSERT(s.l7.icmp.contains(type) == d.l7_restricted);
    }
  });
}

// The generator reaches every feature the four-view properties are meant to cover, and
// every cluster it makes loads. Counted over 300 clusters from fixed seeds.
TEST(ClusterGenerator, CoversEveryFeature) {
  const std::vector<std::string> features = {"operator: In",
                                             "operator: NotIn",
                                             "operator: Exists",
                                             "operator: DoesNotExist",
                                             "matchLabels",
                                             "namespaceSelector",
                                             "io.kubernetes.pod.namespace",
                                             "namespace.labels.",
                                             "except: [",
                                             "endPort",
                                             "port: http",
                                             "port: metrics",
                                             "ingressDeny",
                                             "egressDeny",
                                             "Entities: [world",
                                             "cluster",
                                             "host",
                                             "remote-node",
                                             "Entities: [all",
                                             "rules: {http",
                                             "rules: {dns",
                                             "rules: {kafka",
                                             "icmps",
                                             "ipBlock",
                                             "CIDR: [",
                                             "CIDRSet",
                                             "enableDefaultDeny",
                                             "CiliumClusterwideNetworkPolicy",
                                             "kind: NetworkPolicy"};
  std::map<std::string, int> seen;
  size_t multi_requirement = 0;
  const auto gen = testing::genCluster();
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    const testing::GeneratedCluster g = gen(rc::Random(seed), 50).value();
    auto r = loadClusterFromTexts({{"generated.yaml", g.yaml}});
    ASSERT_TRUE(r.diags.ok()) << g.yaml;
    for (const auto& f : features) seen[f] += g.yaml.find(f) != std::string::npos;
    for (const auto& rule : r.cluster.policies.rules) {
      multi_requirement += rule.subject.requirements.size() >= 2;
    }
  }
  for (const auto& f : features) EXPECT_GE(seen[f], 3) << f;
  EXPECT_GE(multi_requirement, 30u);
}

// L7 fails closed: a CNP port with HTTP rules is L7-restricted (not allowed) in evaluate,
// explain and connectivity, and a plain allow of the same port does not lift it.
TEST(Engine, L7RulesMakeAFlowL7RestrictedNotAllowed) {
  Fixture f(R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db-http, namespace: prod}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: web}}]
    toPorts:
    - ports: [{port: "5432", protocol: TCP}]
      rules: {http: [{method: GET}, {method: POST, path: /x}]}
    - ports: [{port: "9000", protocol: TCP}]
  - fromEndpoints: [{matchLabels: {app: web}}]
    toPorts: [{ports: [{port: "5432", protocol: TCP}]}]
)");
  const Verdict v = f.eval(f.pod("prod", "web"), f.pod("prod", "db"), 5432);
  EXPECT_FALSE(v.allowed);
  EXPECT_TRUE(v.l7_restricted);
  EXPECT_TRUE(v.egress.allowed);
  EXPECT_FALSE(v.ingress.allowed);
  EXPECT_TRUE(v.ingress.l7_restricted);
  EXPECT_EQ(v.ingress.reason, DecisionReason::L7Restricted);
  EXPECT_EQ(v.ingress.verdict, EntryVerdict::Redirect);
  ASSERT_EQ(v.ingress.l7.size(), 1u);
  EXPECT_EQ(v.ingress.l7[0].type, "http");
  EXPECT_EQ(v.ingress.l7[0].rule_count, 2u);
  EXPECT_EQ(v.ingress.l7[0].policy, "CiliumNetworkPolicy prod/db-http");
  EXPECT_EQ(v.ingress.l7[0].loc.file, "t.yaml");
  EXPECT_GT(v.ingress.l7[0].loc.line, 0);
  EXPECT_EQ(verdictWord(v), "L7-RESTRICTED");
  const std::string text = explainVerdict(*f.engine, v);
  EXPECT_NE(text.find("L7-RESTRICTED"), std::string::npos) << text;
  EXPECT_NE(text.find("L7 rules: http (2 rules) in CiliumNetworkPolicy prod/db-http (t.yaml:"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("the datapath drops this flow"), std::string::npos) << text;

  // The plain port of the same policy stays plainly allowed; others stay denied.
  const Verdict plain = f.eval(f.pod("prod", "web"), f.pod("prod", "db"), 9000);
  EXPECT_TRUE(plain.allowed);
  EXPECT_FALSE(plain.l7_restricted);
  const Verdict other = f.eval(f.pod("dev", "other"), f.pod("prod", "db"), 5432);
  EXPECT_FALSE(other.allowed);
  EXPECT_FALSE(other.l7_restricted);
  EXPECT_EQ(verdictWord(other), "DENIED");

  // Connectivity lists the L7 part apart from the plainly allowed one.
  const auto entries = computeConnectivity(*f.engine);
  const auto web = f.r.cluster.pods[*f.r.cluster.findPod("prod", "web")].workload;
  const auto db = f.r.cluster.pods[*f.r.cluster.findPod("prod", "db")].workload;
  auto it = std::find_if(entries.begin(), entries.end(), [&](const ConnEntry& e) {
    return !e.src.external && !e.dst.external && e.src.workload == web && e.dst.workload == db;
  });
  ASSERT_NE(it, entries.end());
  EXPECT_EQ(it->conns.str(), "TCP 9000");
  EXPECT_EQ(it->l7.str(), "TCP 5432");
  EXPECT_EQ(it->l7_types, std::vector<std::string>{"http"});
  EXPECT_EQ(it->str(), "TCP 9000; TCP 5432 (L7: http)");
}

// A deny rule beats L7 rules: the flow is denied, not L7-restricted.
TEST(Engine, DenyBeatsL7Restriction) {
  Fixture f(R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: dns, namespace: prod}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toEntities: [world]
    toPorts: [{ports: [{port: "53", protocol: UDP}], rules: {dns: [{matchPattern: "*"}]}}]
  egressDeny:
  - toCIDR: [8.8.8.8/32]
)");
  const Verdict l7 = f.eval(f.pod("prod", "web"), ip("1.1.1.1"), 53, kProtoUDP);
  EXPECT_TRUE(l7.l7_restricted);
  EXPECT_FALSE(l7.allowed);
  EXPECT_EQ(l7.egress.l7.at(0).type, "dns");
  const Verdict denied = f.eval(f.pod("prod", "web"), ip("8.8.8.8"), 53, kProtoUDP);
  EXPECT_FALSE(denied.allowed);
  EXPECT_FALSE(denied.l7_restricted);
  EXPECT_EQ(denied.egress.reason, DecisionReason::DeniedByRule);
}

}  // namespace
}  // namespace membrane::model
