// SPDX-License-Identifier: Apache-2.0
// Flows to a Service, reasoned through its backends.
#include "model/service_view.h"

#include <gtest/gtest.h>

#include "model/loader.h"

namespace membrane::model {
namespace {

// pay/a on n1 serves https on 8443, pay/b on n2 on 9443; shop/fe on n1 is the client.
constexpr const char* kCluster = R"(
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
metadata: {name: fe, namespace: shop, labels: {app: fe}}
spec: {nodeName: n1}
status: {podIP: 10.1.0.7}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: fe-out, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: fe}}
  egress:
  - toServices: [{k8sService: {serviceName: api, namespace: pay}}]
    toPorts: [{ports: [{port: "8443"}]}]
)";

struct Fx {
  LoadResult r;
  std::unique_ptr<Engine> engine;
  explicit Fx(const std::string& service)
      : r(loadClusterFromTexts({{"v.yaml", std::string(kCluster) + "---\n" + service}})) {
    engine = std::make_unique<Engine>(r.cluster);
  }
  ServiceVerdict to(const char* ref, uint16_t port) const {
    std::string why;
    const Service* s = parseServiceRef(r.cluster, ref, &why);
    EXPECT_NE(s, nullptr) << why;
    auto pi = findServicePort(*s, port, kProtoTCP);
    EXPECT_TRUE(pi.has_value());
    auto fe = r.cluster.findPod("shop", "fe");
    return evaluateThroughService(*engine, {.pod = fe, .ip = *r.cluster.pods[*fe].ip}, *s, *pi);
  }
};

constexpr const char* kApi = R"(
apiVersion: v1
kind: Service
metadata: {name: api, namespace: pay}
spec: {selector: {app: api}, clusterIP: 10.96.0.10, ports: [{port: 443, targetPort: https}]}
)";

TEST(ServiceView, EachBackendIsJudgedAtItsTargetPort) {
  Fx f(kApi);
  ASSERT_TRUE(f.r.diags.ok());
  ServiceVerdict v = f.to("svc:pay/api", 443);
  ASSERT_EQ(v.backends.size(), 2u);
  EXPECT_EQ(v.backends[0].target_port, 8443);
  EXPECT_TRUE(v.backends[0].allowed());
  EXPECT_EQ(v.backends[1].target_port, 9443);
  EXPECT_FALSE(v.backends[1].allowed()) << "the policy allows 8443 only";
  EXPECT_EQ(v.allowedCount(), 1u);
  EXPECT_FALSE(v.allAllowed());
  EXPECT_NE(serviceVerdictWord(v).find("ALLOWED via 1 of 2 backends"), std::string::npos);
  const std::string text = explainServiceVerdict(*f.engine, v);
  EXPECT_NE(text.find("backend pay/a (10.1.0.1) on n1: DNAT to 10.1.0.1:8443: ALLOWED"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("backend pay/b (10.2.0.1) on n2: DNAT to 10.2.0.1:9443: DENIED"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("CiliumNetworkPolicy shop/fe-out"), std::string::npos)
      << "the deciding rule is named: " << text;
}

TEST(ServiceView, InternalTrafficPolicyLocalKeepsTheClientsNode) {
  Fx f(R"(
apiVersion: v1
kind: Service
metadata: {name: api, namespace: pay}
spec: {selector: {app: api}, internalTrafficPolicy: Local, ports: [{port: 443, targetPort: https}]}
)");
  ASSERT_TRUE(f.r.diags.ok());
  ServiceVerdict v = f.to("svc:pay/api", 443);
  ASSERT_EQ(v.backends.size(), 1u) << "fe is on n1: only pay/a";
  EXPECT_TRUE(v.allAllowed());
}

TEST(ServiceView, NotReadyEndpointsTakeNoNewConnection) {
  Fx f(std::string(kApi) + R"(
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, namespace: pay, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
ports: [{port: 8443}]
endpoints:
- {addresses: [10.1.0.1]}
- {addresses: [10.2.0.1], conditions: {ready: false, terminating: true}}
)");
  ASSERT_TRUE(f.r.diags.ok());
  ServiceVerdict v = f.to("svc:pay/api", 443);
  ASSERT_EQ(v.backends.size(), 1u);
  ASSERT_EQ(v.idle.size(), 1u);
  EXPECT_TRUE(v.allAllowed());
  EXPECT_NE(explainServiceVerdict(*f.engine, v).find("takes no new connection (terminating)"),
            std::string::npos);
}

TEST(ServiceView, NoBackendDrops) {
  Fx f(R"(
apiVersion: v1
kind: Service
metadata: {name: api, namespace: pay}
spec: {selector: {app: none}, ports: [{port: 443}]}
)");
  ServiceVerdict v = f.to("svc:pay/api", 443);
  EXPECT_TRUE(v.backends.empty());
  EXPECT_FALSE(v.allAllowed());
  EXPECT_EQ(serviceVerdictWord(v), "NO BACKEND");
}

TEST(ServiceView, RefsThatNameNothing) {
  Fx f(kApi);
  std::string why;
  EXPECT_EQ(parseServiceRef(f.r.cluster, "pay/api", &why), nullptr);
  EXPECT_TRUE(why.empty()) << "not a Service reference at all";
  EXPECT_EQ(parseServiceRef(f.r.cluster, "svc:pay/nope", &why), nullptr);
  EXPECT_NE(why.find("names no Service"), std::string::npos);
  EXPECT_EQ(f.r.cluster.findServiceByIp(*parseIpv4("10.96.0.10")),
            parseServiceRef(f.r.cluster, "svc:pay/api", &why));
}

}  // namespace
}  // namespace membrane::model
