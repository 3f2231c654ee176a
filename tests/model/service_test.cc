// SPDX-License-Identifier: Apache-2.0
// Services and EndpointSlices: decoding, validation, backends and their ports.
#include <gtest/gtest.h>

#include "model/engine.h"
#include "model/loader.h"

namespace membrane::model {
namespace {

LoadResult load(const std::string& yaml) { return loadClusterFromTexts({{"svc.yaml", yaml}}); }

std::string errors(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.diags.errors()) s += e.str() + "\n";
  return s;
}

std::string warnings(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.diags.warnings()) s += e.str() + "\n";
  return s;
}

// Two api pods: a declares container port "https" 8443, b declares "https" 9443; c is a db.
constexpr const char* kPods = R"(
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: pay, labels: {app: api}}
spec: {nodeName: n1, containers: [{name: c, ports: [{name: https, containerPort: 8443}]}]}
status: {podIP: 10.1.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: pay, labels: {app: api}}
spec: {nodeName: n2, containers: [{name: c, ports: [{name: https, containerPort: 9443}]}]}
status: {podIP: 10.2.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: pay, labels: {app: db}}
status: {podIP: 10.1.0.9}
)";

TEST(Services, FullSpecDecodes) {
  auto r = load(std::string(kPods) + R"(
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: pay, labels: {tier: front}}
spec:
  type: LoadBalancer
  selector: {app: api}
  clusterIP: 10.96.0.10
  externalIPs: [192.0.2.7]
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
  externalTrafficPolicy: Local
  internalTrafficPolicy: Local
  ports:
  - {name: https, port: 443, targetPort: https, nodePort: 30443}
  - {name: metrics, port: 9090, protocol: UDP}
status: {loadBalancer: {ingress: [{ip: 198.51.100.4}, {hostname: lb.example}]}}
)");
  ASSERT_TRUE(r.diags.ok()) << errors(r);
  const Service* s = r.cluster.findService("pay", "api");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->type, ServiceType::LoadBalancer);
  EXPECT_EQ(s->labels.at("tier"), "front");
  EXPECT_EQ(s->cluster_ip, parseIpv4("10.96.0.10"));
  EXPECT_EQ(s->external_ips, std::vector<Ipv4>{*parseIpv4("192.0.2.7")});
  EXPECT_EQ(s->load_balancer_ips, std::vector<Ipv4>{*parseIpv4("198.51.100.4")});
  EXPECT_TRUE(s->affinity_client_ip);
  EXPECT_EQ(s->affinity_timeout_s, 600u);
  EXPECT_EQ(s->external_traffic_policy, TrafficPolicy::Local);
  EXPECT_EQ(s->internal_traffic_policy, TrafficPolicy::Local);
  ASSERT_EQ(s->ports.size(), 2u);
  EXPECT_EQ(s->ports[0].node_port, 30443);
  EXPECT_EQ(s->ports[1].node_port, 30000) << "an unset nodePort gets the lowest free one";
  EXPECT_EQ(s->ports[1].protocol, kProtoUDP);
  EXPECT_EQ(r.cluster.findServiceByIp(*parseIpv4("198.51.100.4")), s);
  EXPECT_EQ(r.cluster.findServiceByIp(*parseIpv4("192.0.2.7")), s);
  EXPECT_EQ(r.cluster.findServiceByIp(*parseIpv4("10.96.0.11")), nullptr);
}

TEST(Services, DefaultsAreKubernetes) {
  auto r = load(R"(
apiVersion: v1
kind: Service
metadata: {name: s}
spec: {sessionAffinity: ClientIP, ports: [{port: 80}]}
)");
  ASSERT_TRUE(r.diags.ok()) << errors(r);
  const Service& s = r.cluster.services.at(0);
  EXPECT_EQ(s.namespace_, "default");
  EXPECT_EQ(s.type, ServiceType::ClusterIP);
  EXPECT_EQ(s.affinity_timeout_s, 10800u);
  EXPECT_EQ(s.ports[0].target_port, "80");
  EXPECT_EQ(s.ports[0].node_port, 0) << "ClusterIP services have no nodePort";
  EXPECT_EQ(s.external_traffic_policy, TrafficPolicy::Cluster);
}

TEST(Services, NamedTargetPortResolvesPerPod) {
  auto r = load(std::string(kPods) + R"(
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: pay}
spec: {selector: {app: api}, ports: [{name: https, port: 443, targetPort: https}, {name: raw, port: 80, targetPort: 8080}]}
)");
  ASSERT_TRUE(r.diags.ok()) << errors(r);
  const Service* s = r.cluster.findService("pay", "api");
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->from_slices);
  ASSERT_EQ(s->backend_endpoints.size(), 2u);
  const auto& ba = s->backend_endpoints[0];
  const auto& bb = s->backend_endpoints[1];
  EXPECT_EQ(r.cluster.pods[*ba.pod].name, "a");
  EXPECT_EQ(s->targetPort(ba, 0), 8443);
  EXPECT_EQ(s->targetPort(bb, 0), 9443) << "each pod's own container port of that name";
  EXPECT_EQ(s->targetPort(ba, 1), 8080);
  EXPECT_EQ(ba.node_name, "n1");
  EXPECT_EQ(bb.node_name, "n2");
}

TEST(Services, NamedTargetPortMissingOnPodServesNothing) {
  auto r = load(std::string(kPods) + R"(
---
apiVersion: v1
kind: Service
metadata: {name: any, namespace: pay}
spec: {selector: {}, ports: [{port: 1}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: pay}
spec: {selector: {app: db}, ports: [{port: 443, targetPort: https}]}
)");
  ASSERT_TRUE(r.diags.ok()) << errors(r);
  EXPECT_TRUE(r.cluster.findService("pay", "any")->backends.empty())
      << "an empty selector selects nothing";
  const Service* s = r.cluster.findService("pay", "web");
  ASSERT_EQ(s->backend_endpoints.size(), 1u);
  EXPECT_EQ(s->targetPort(s->backend_endpoints[0], 0), 0) << "pod c has no port named https";
}

constexpr const char* kSlice = R"(
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: pay}
spec: {selector: {app: api}, clusterIP: 10.96.0.10, ports: [{name: https, port: 443, targetPort: https}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-x1, namespace: pay, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
ports: [{name: https, port: 7443, protocol: TCP}]
endpoints:
- addresses: [10.1.0.1]
  nodeName: n1
  targetRef: {kind: Pod, name: a, namespace: pay}
- addresses: [10.2.0.1]
  conditions: {ready: false, serving: true, terminating: true}
  nodeName: n2
- addresses: [203.0.113.5]
  conditions: {ready: true}
)";

TEST(Services, SlicesWinOverTheSelector) {
  auto r = load(std::string(kPods) + kSlice);
  ASSERT_TRUE(r.diags.ok()) << errors(r);
  const Service* s = r.cluster.findService("pay", "api");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->from_slices);
  ASSERT_EQ(s->backend_endpoints.size(), 3u);
  const auto& a = s->backend_endpoints[0];
  const auto& b = s->backend_endpoints[1];
  const auto& ext = s->backend_endpoints[2];
  EXPECT_EQ(s->targetPort(a, 0), 7443) << "the slice's port, not the pod's named port";
  EXPECT_TRUE(b.terminating);
  EXPECT_FALSE(b.ready);
  EXPECT_TRUE(b.serving);
  EXPECT_FALSE(ext.pod.has_value()) << "an address outside the cluster";
  EXPECT_EQ(ext.slice, "api-x1");
  ASSERT_EQ(s->backends.size(), 1u) << "only ready endpoints that are pods";
  EXPECT_EQ(r.cluster.pods[s->backends[0]].name, "a");
  ASSERT_EQ(r.cluster.endpoint_slices.size(), 1u);
  EXPECT_EQ(r.cluster.endpoint_slices[0].addresses.size(), 3u);
  EXPECT_EQ(r.cluster.endpoint_slices[0].endpoints[2].target_name, "");
}

TEST(Services, ExternalNameIsIgnoredWithAReason) {
  auto r = load(R"(
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: db.example.com}
)");
  ASSERT_TRUE(r.diags.ok()) << errors(r);
  EXPECT_TRUE(r.cluster.services.empty());
  EXPECT_NE(warnings(r).find("spec.type: ExternalName Services are DNS aliases"), std::string::npos)
      << warnings(r);
}

TEST(Services, LoadBalancerWithoutNodePorts) {
  auto r = load(R"(
apiVersion: v1
kind: Service
metadata: {name: lb}
spec: {type: LoadBalancer, allocateLoadBalancerNodePorts: false, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: np}
spec: {type: NodePort, ports: [{name: a, port: 80, nodePort: 30000}, {name: b, port: 81}]}
)");
  ASSERT_TRUE(r.diags.ok()) << errors(r);
  EXPECT_EQ(r.cluster.findService("default", "lb")->ports[0].node_port, 0);
  const Service* np = r.cluster.findService("default", "np");
  EXPECT_EQ(np->ports[0].node_port, 30000);
  EXPECT_EQ(np->ports[1].node_port, 30001) << "the lowest port nobody holds";
}

TEST(Services, DuplicateNodePortAcrossServices) {
  auto r = load(R"(
apiVersion: v1
kind: Service
metadata: {name: a}
spec: {type: NodePort, ports: [{port: 80, nodePort: 30080}]}
---
apiVersion: v1
kind: Service
metadata: {name: b}
spec: {type: NodePort, ports: [{port: 81, nodePort: 30080}]}
)");
  EXPECT_NE(errors(r).find("Service default/b: spec.ports[0].nodePort: nodePort 30080 is "
                           "already allocated to Service default/a"),
            std::string::npos)
      << errors(r);
}

// toServices: a client in shop and three Services in pay (selector, selector-less with an
// external endpoint, labelled for k8sServiceSelector).
constexpr const char* kToServices = R"(
---
apiVersion: v1
kind: Pod
metadata: {name: fe, namespace: shop, labels: {app: fe}}
status: {podIP: 10.3.0.1}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: pay}
spec: {selector: {app: api}, ports: [{port: 443, targetPort: https}]}
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: pay, labels: {kind: legacy}}
spec: {ports: [{port: 5432}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: legacy-1, namespace: pay, labels: {kubernetes.io/service-name: legacy}}
addressType: IPv4
ports: [{port: 5432}]
endpoints: [{addresses: [203.0.113.5]}]
)";

struct SvcFixture {
  LoadResult r;
  std::unique_ptr<Engine> engine;
  explicit SvcFixture(const std::string& policy)
      : r(load(std::string(kPods) + kToServices + "---\n" + policy)) {
    engine = std::make_unique<Engine>(r.cluster);
  }
  bool allowed(const char* dst_ip, uint16_t port) const {
    auto fe = r.cluster.findPod("shop", "fe");
    FlowEndpoint dst{.ip = *parseIpv4(dst_ip)};
    dst.pod = r.cluster.findPodByIp(dst.ip);
    return engine
        ->evaluate({.src = {.pod = fe, .ip = *r.cluster.pods[*fe].ip},
                    .dst = dst,
                    .protocol = kProtoTCP,
                    .port = port})
        .allowed;
  }
};

std::string egressTo(const std::string& to_services) {
  return "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: "
         "shop}\nspec:\n  endpointSelector: {matchLabels: {app: fe}}\n  egress:\n  - toServices: " +
         to_services + "\n";
}

TEST(ToServices, ServiceWithSelectorAllowsItsPods) {
  SvcFixture f(egressTo("[{k8sService: {serviceName: api, namespace: pay}}]"));
  ASSERT_TRUE(f.r.diags.ok()) << errors(f.r);
  EXPECT_TRUE(f.allowed("10.1.0.1", 8443));
  EXPECT_TRUE(f.allowed("10.2.0.1", 9443));
  EXPECT_FALSE(f.allowed("10.1.0.9", 5432)) << "pod c is not behind the Service";
  EXPECT_FALSE(f.allowed("203.0.113.5", 5432));
}

TEST(ToServices, ServiceWithoutSelectorAllowsItsEndpointAddresses) {
  SvcFixture f(egressTo("[{k8sService: {serviceName: legacy, namespace: pay}}]"));
  ASSERT_TRUE(f.r.diags.ok()) << errors(f.r);
  EXPECT_TRUE(f.allowed("203.0.113.5", 5432));
  EXPECT_FALSE(f.allowed("203.0.113.6", 5432));
  EXPECT_FALSE(f.allowed("10.1.0.1", 8443));
}

TEST(ToServices, ServiceSelectorMatchesServiceLabels) {
  SvcFixture f(
      egressTo("[{k8sServiceSelector: {selector: {matchLabels: {kind: legacy}}, "
               "namespace: pay}}]"));
  ASSERT_TRUE(f.r.diags.ok()) << errors(f.r);
  EXPECT_TRUE(f.allowed("203.0.113.5", 5432));
  EXPECT_FALSE(f.allowed("10.1.0.1", 8443)) << "api has no label kind=legacy";
}

TEST(ToServices, NamespaceDefaultsToThePolicys) {
  SvcFixture f(egressTo("[{k8sService: {serviceName: api}}]"));
  ASSERT_TRUE(f.r.diags.ok()) << errors(f.r);
  EXPECT_FALSE(f.allowed("10.1.0.1", 8443)) << "there is no Service shop/api";
  EXPECT_NE(warnings(f.r).find("no Service matches"), std::string::npos) << warnings(f.r);
}

TEST(ToServices, ClusterwideSelectorSpansNamespaces) {
  SvcFixture f(R"(apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: p}
spec:
  endpointSelector: {matchLabels: {app: fe}}
  egress:
  - toServices: [{k8sServiceSelector: {selector: {matchLabels: {kind: legacy}}}}]
)");
  ASSERT_TRUE(f.r.diags.ok()) << errors(f.r);
  EXPECT_TRUE(f.allowed("203.0.113.5", 5432)) << "pay/legacy, found without a namespace";
  EXPECT_FALSE(f.allowed("10.1.0.1", 8443));
}

TEST(ToServices, NamespacedSelectorStaysInThePolicysNamespace) {
  SvcFixture f(egressTo("[{k8sServiceSelector: {selector: {matchLabels: {kind: legacy}}}}]"));
  ASSERT_TRUE(f.r.diags.ok()) << errors(f.r);
  EXPECT_FALSE(f.allowed("203.0.113.5", 5432)) << "pay/legacy is not in shop";
}

TEST(ToServices, BothFormsInOneEntryIsAnError) {
  SvcFixture f(egressTo("[{k8sService: {serviceName: api}, k8sServiceSelector: {selector: {}}}]"));
  EXPECT_NE(errors(f.r).find("spec.egress[0].toServices[0].k8sServiceSelector: k8sService and "
                             "k8sServiceSelector are exclusive"),
            std::string::npos)
      << errors(f.r);
}

struct BadService {
  const char* name;
  const char* spec;    // the Service's spec (flow YAML), or a whole document when it has "kind:"
  const char* expect;  // substring of the errors
};

void PrintTo(const BadService& c, std::ostream* os) { *os << c.name; }

class BadServices : public ::testing::TestWithParam<BadService> {};

TEST_P(BadServices, ReportsFileLineFieldAndExpectation) {
  const std::string spec = GetParam().spec;
  const std::string doc = spec.find("kind:") != std::string::npos
                              ? spec
                              : "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: "
                                "pay}\nspec: " +
                                    spec + "\n";
  auto r = load(doc);
  ASSERT_FALSE(r.diags.ok()) << GetParam().name;
  EXPECT_NE(errors(r).find(GetParam().expect), std::string::npos) << errors(r);
  EXPECT_NE(errors(r).find("svc.yaml:"), std::string::npos) << "errors name the file";
  EXPECT_GT(r.diags.errors()[0].loc.line, 0) << "errors carry a line";
}

INSTANTIATE_TEST_SUITE_P(
    Services, BadServices,
    ::testing::Values(
        BadService{"port zero", "{ports: [{port: 0}]}",
                   "Service pay/s: spec.ports[0].port: 0 is out of range [1, 65535]"},
        BadService{"port missing", "{ports: [{name: x}]}",
                   "spec.ports[0].port: required field is missing"},
        BadService{"target port too big", "{ports: [{port: 80, targetPort: 70000}]}",
                   "spec.ports[0].targetPort: 70000 is out of range"},
        BadService{"target port bad name", "{ports: [{port: 80, targetPort: Web_Port}]}",
                   "\"Web_Port\" is neither a port number (1-65535) nor a port name"},
        BadService{"node port on ClusterIP", "{ports: [{port: 80, nodePort: 30001}]}",
                   "spec.ports[0].nodePort: a ClusterIP Service has no nodePort"},
        BadService{"node port out of range",
                   "{type: NodePort, ports: [{port: 80, nodePort: 8080}]}",
                   "8080 is outside the node port range 30000-32767"},
        BadService{"duplicate port names",
                   "{ports: [{name: web, port: 80}, {name: web, port: 81}]}",
                   "spec.ports[1].name: duplicate port name \"web\""},
        BadService{"unnamed of two", "{ports: [{port: 80}, {name: b, port: 81}]}",
                   "spec.ports[0].name: required when the Service has more than one port"},
        BadService{"duplicate port", "{ports: [{name: a, port: 80}, {name: b, port: 80}]}",
                   "spec.ports[1].port: duplicate port 80"},
        BadService{"bad cluster IP", "{clusterIP: 10.96.0.300}",
                   "spec.clusterIP: \"10.96.0.300\" is not an IPv4 address"},
        BadService{"bad external IP", "{externalIPs: [1.2.3]}",
                   "spec.externalIPs[0]: \"1.2.3\" is not an IPv4 address"},
        BadService{"unknown type", "{type: Magic}",
                   "spec.type: \"Magic\" is not a Service type; expected ClusterIP, NodePort, "
                   "LoadBalancer or ExternalName"},
        BadService{"unknown field", "{selectr: {app: x}}", "spec.selectr: unknown field"},
        BadService{"unknown port field", "{ports: [{port: 80, targtPort: 8080}]}",
                   "spec.ports[0].targtPort: unknown field"},
        BadService{"bad affinity", "{sessionAffinity: Sticky}",
                   "\"Sticky\" is not a session affinity; expected None or ClientIP"},
        BadService{"affinity timeout",
                   "{sessionAffinity: ClientIP, sessionAffinityConfig: "
                   "{clientIP: {timeoutSeconds: 86401}}}",
                   "spec.sessionAffinityConfig.clientIP.timeoutSeconds: 86401 is out of range "
                   "[1, 86400]"},
        BadService{"traffic policy", "{type: NodePort, externalTrafficPolicy: Nearest}",
                   "spec.externalTrafficPolicy: \"Nearest\" is not a traffic policy"},
        BadService{"etp on ClusterIP", "{externalTrafficPolicy: Local}",
                   "only allowed for NodePort or LoadBalancer Services"},
        BadService{"bad lb ip",
                   "{type: LoadBalancer}\nstatus: {loadBalancer: {ingress: [{ip: x}]}}",
                   "status.loadBalancer.ingress[0].ip: \"x\" is not an IPv4 address"},
        BadService{"bad protocol", "{ports: [{port: 80, protocol: ICMP}]}",
                   "spec.ports[0].protocol: \"ICMP\" is not a protocol"},
        BadService{"slice bad address",
                   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e, "
                   "labels: {kubernetes.io/service-name: s}}\naddressType: IPv4\nendpoints: "
                   "[{addresses: [10.0.0.256]}]\n",
                   "EndpointSlice e: endpoints[0].addresses[0]: \"10.0.0.256\" is not an "
                   "IPv4 address"},
        BadService{"slice bad condition",
                   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\n"
                   "addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], conditions: {ready: "
                   "maybe}}]\n",
                   "endpoints[0].conditions.ready: expected true or false"},
        BadService{"slice unknown field",
                   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\n"
                   "addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], nodename: n1}]\n",
                   "endpoints[0].nodename: unknown field"},
        BadService{"slice no addresses",
                   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\n"
                   "addressType: IPv4\nendpoints: [{nodeName: n1}]\n",
                   "endpoints[0].addresses: required field is missing"},
        BadService{"slice duplicate port name",
                   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\n"
                   "addressType: IPv4\nports: [{name: a, port: 1}, {name: a, port: 2}]\n",
                   "ports[1].name: duplicate port name \"a\""},
        BadService{"slice port range",
                   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\n"
                   "addressType: IPv4\nports: [{name: a, port: 65536}]\n",
                   "ports[0].port: 65536 is out of range"},
        BadService{"slice address type",
                   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\n"
                   "addressType: IPv5\n",
                   "addressType: \"IPv5\" is not an address type; expected IPv4, IPv6 or FQDN"}));

}  // namespace
}  // namespace membrane::model
