// SPDX-License-Identifier: Apache-2.0
// servicesFromCluster(): which frontends and backends the datapath gets from the model, for
// clusters loaded from manifests as the agent loads them.
#include "dataplane/lb_services.h"

#include <gtest/gtest.h>

#include "model/loader.h"

namespace membrane::dataplane {
namespace {

model::Cluster load(const std::string& yaml) {
  auto r = model::loadClusterFromTexts({{.name = "m.yaml", .text = yaml}});
  std::string errs;
  for (const auto& e : r.diags.errors()) errs += e.str() + "\n";
  EXPECT_TRUE(r.diags.ok()) << errs;
  return r.cluster;
}

constexpr uint32_t ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d;
}

constexpr const char* kPods = R"(apiVersion: v1
kind: Pod
metadata: {name: a, namespace: default, labels: {app: web}}
spec:
  nodeName: n1
  containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: default, labels: {app: web}}
spec:
  containers: [{name: c, ports: [{name: http, containerPort: 9090}]}]
status: {podIP: 10.0.2.1}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: default, labels: {app: web}}
spec: {nodeName: n2}
status: {podIP: 10.0.3.1}
---
)";

// Named target ports per pod, a numeric one on every pod, no frontend for SCTP; the
// LoadBalancer's external and status IPs are frontends too; ClientIP affinity.
TEST(ServicesFromCluster, FrontendsTargetPortsAndAffinity) {
  const auto c = load(std::string(kPods) + R"(apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.10
  externalIPs: [192.0.2.7]
  selector: {app: web}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
  ports:
  - {name: web, port: 80, targetPort: http, protocol: TCP}
  - {name: num, port: 81, targetPort: 7000, protocol: TCP}
  - {name: sctp, port: 82, targetPort: 82, protocol: SCTP}
status: {loadBalancer: {ingress: [{ip: 198.51.100.9}]}}
)");
  const ServiceState st = servicesFromCluster(c, "n1", "default-node");
  ASSERT_EQ(st.size(), 6u);  // 3 VIPs x (80, 81); SCTP has no frontend
  for (uint32_t vip : {ip(10, 96, 0, 10), ip(192, 0, 2, 7), ip(198, 51, 100, 9)}) {
    const auto& named = st.at({.vip = vip, .port = 80, .proto = 6});
    ASSERT_EQ(named.backends.size(), 2u);  // c has no port named http
    EXPECT_EQ(named.backends[0], (LbBackend{.ip = ip(10, 0, 1, 1), .port = 8080, .node = "n1"}));
    EXPECT_EQ(named.backends[1],
              (LbBackend{.ip = ip(10, 0, 2, 1), .port = 9090, .node = "default-node"}));
    EXPECT_EQ(named.affinity_timeout_s, 600u);
    const auto& numeric = st.at({.vip = vip, .port = 81, .proto = 6});
    ASSERT_EQ(numeric.backends.size(), 3u);
    for (const LbBackend& b : numeric.backends) EXPECT_EQ(b.port, 7000);
  }
}

// EndpointSlices decide: ready -> active, terminating and serving -> terminating (existing
// connections only), not ready -> left out; the slice port is the backend port.
TEST(ServicesFromCluster, SliceConditionsDecideBackendStates) {
  const auto c = load(R"(apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec:
  clusterIP: 10.96.0.11
  ports: [{name: db, port: 5432, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ext-1, namespace: default, labels: {kubernetes.io/service-name: ext}}
addressType: IPv4
ports: [{name: db, port: 15432, protocol: TCP}]
endpoints:
- addresses: [192.168.0.1]
- addresses: [192.168.0.2]
  conditions: {ready: false, serving: true, terminating: true}
- addresses: [192.168.0.3]
  conditions: {ready: false}
)");
  const ServiceState st = servicesFromCluster(c, "n1", "n1");
  const auto& svc = st.at({.vip = ip(10, 96, 0, 11), .port = 5432, .proto = 6});
  ASSERT_EQ(svc.backends.size(), 2u);
  EXPECT_EQ(svc.backends[0].ip, ip(192, 168, 0, 1));
  EXPECT_EQ(svc.backends[0].port, 15432);
  EXPECT_EQ(svc.backends[0].state, LbBackendState::Active);
  EXPECT_EQ(svc.backends[1].ip, ip(192, 168, 0, 2));
  EXPECT_EQ(svc.backends[1].state, LbBackendState::Terminating);
  EXPECT_EQ(svc.affinity_timeout_s, 0u);
}

// internalTrafficPolicy Local: each node balances to its own endpoints only; a headless
// service has no frontend.
TEST(ServicesFromCluster, InternalTrafficPolicyLocalAndHeadless) {
  const auto c = load(std::string(kPods) + R"(apiVersion: v1
kind: Service
metadata: {name: local, namespace: default}
spec:
  clusterIP: 10.96.0.12
  internalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 81, targetPort: 7000, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: none, namespace: default}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 81, targetPort: 7000, protocol: TCP}]
)");
  const LbFrontend fe{.vip = ip(10, 96, 0, 12), .port = 81, .proto = 6};
  const ServiceState n1 = servicesFromCluster(c, "n1", "n2");
  ASSERT_EQ(n1.size(), 1u);
  ASSERT_EQ(n1.at(fe).backends.size(), 1u);
  EXPECT_EQ(n1.at(fe).backends[0].ip, ip(10, 0, 1, 1));
  const ServiceState n2 = servicesFromCluster(c, "n2", "n2");  // b (no node) and c run on n2
  ASSERT_EQ(n2.at(fe).backends.size(), 2u);
  EXPECT_EQ(n2.at(fe).backends[0].ip, ip(10, 0, 2, 1));
  EXPECT_EQ(n2.at(fe).backends[1].ip, ip(10, 0, 3, 1));
}

}  // namespace
}  // namespace membrane::dataplane
