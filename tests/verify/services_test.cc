// SPDX-License-Identifier: Apache-2.0
// Services in verify/: invariants expanded per backend (and proved), and the Service diff.
#include <gtest/gtest.h>

#include "model/loader.h"
#include "verify/invariants.h"
#include "verify/service_diff.h"
#include "verify/verifier.h"

namespace membrane::verify {
namespace {

// pay/api: a (https 8443) and b (https 9443) from the selector; pay/ext: no selector, one
// endpoint outside the cluster. The backends admit shop/fe on 8443 only.
constexpr const char* kCluster = R"(
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: pay, labels: {app: api}}
spec: {containers: [{name: c, ports: [{name: https, containerPort: 8443}]}]}
status: {podIP: 10.1.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: pay, labels: {app: api}}
spec: {containers: [{name: c, ports: [{name: https, containerPort: 9443}]}]}
status: {podIP: 10.1.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: fe, namespace: shop, labels: {app: fe}}
status: {podIP: 10.1.0.9}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: pay}
spec: {selector: {app: api}, ports: [{name: https, port: 443, targetPort: https}, {name: m, port: 9100}]}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: pay}
spec: {ports: [{port: 5432}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ext-1, namespace: pay, labels: {kubernetes.io/service-name: ext}}
addressType: IPv4
ports: [{port: 15432}]
endpoints: [{addresses: [203.0.113.5]}, {addresses: [203.0.113.6], conditions: {ready: false}}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api-in, namespace: pay}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: fe, k8s:io.kubernetes.pod.namespace: shop}}]
    toPorts: [{ports: [{port: "8443"}]}]
)";

model::LoadResult load(const std::string& extra = "") {
  return model::loadClusterFromTexts({{"c.yaml", std::string(kCluster) + extra}});
}

InvariantFile invariants(const std::string& body, model::Diagnostics& d) {
  return parseInvariants("inv.yaml",
                         "apiVersion: membrane/v1\nkind: Invariants\ninvariants:\n" + body, d);
}

std::string errors(const model::Diagnostics& d) {
  std::string s;
  for (const auto& e : d.errors()) s += e.str() + "\n";
  return s;
}

TEST(ServiceInvariants, OnePerReadyBackendAtItsTargetPort) {
  auto c = load();
  ASSERT_TRUE(c.diags.ok()) << errors(c.diags);
  model::Diagnostics d;
  auto f = invariants(R"(  - name: fe-api
    expect: allow
    from: {namespace: shop, podSelector: {matchLabels: {app: fe}}}
    to: {service: pay/api}
    ports: [{port: 443}]
  - name: ext
    expect: deny
    from: {namespace: shop}
    to: {service: pay/ext}
)",
                      d);
  ASSERT_TRUE(d.ok()) << errors(d);
  expandServiceInvariants(c.cluster, f, d);
  ASSERT_TRUE(d.ok()) << errors(d);
  ASSERT_EQ(f.invariants.size(), 3u) << "a, b, and the one ready endpoint of ext";
  EXPECT_EQ(f.invariants[0].name, "fe-api@pay.a");
  EXPECT_EQ(*f.invariants[0].to.pod, "pay/a");
  ASSERT_EQ(f.invariants[0].ports.size(), 1u);
  EXPECT_EQ(f.invariants[0].ports[0].port, 8443);
  EXPECT_EQ(f.invariants[1].name, "fe-api@pay.b");
  EXPECT_EQ(f.invariants[1].ports[0].port, 9443);
  EXPECT_NE(f.invariants[1].description.find("through Service pay/api (443->9443)"),
            std::string::npos)
      << f.invariants[1].description;
  EXPECT_EQ(f.invariants[2].name, "ext@203.0.113.5");
  ASSERT_TRUE(f.invariants[2].to.cidr);
  EXPECT_EQ(f.invariants[2].to.cidr->cidr.str(), "203.0.113.5/32");
  EXPECT_EQ(f.invariants[2].ports[0].port, 15432) << "the slice's port";

  // Proved: a admits fe on 8443, b's 9443 is not admitted; ext is reachable (no policy on
  // shop's egress), so the deny fails.
  Verifier v(c.cluster);
  EXPECT_EQ(v.check(f.invariants[0]).outcome, Outcome::Holds);
  const auto rb = v.check(f.invariants[1]);
  ASSERT_EQ(rb.outcome, Outcome::Violated);
  ASSERT_TRUE(rb.witness && rb.witness->dst.pod);
  EXPECT_EQ(c.cluster.pods[*rb.witness->dst.pod].name, "b") << "the witness names the backend";
  EXPECT_EQ(v.check(f.invariants[2]).outcome, Outcome::Violated);
}

TEST(ServiceInvariants, Errors) {
  auto c = load();
  struct Case {
    const char* body;
    const char* expect;
  } cases[] = {
      {"  - {name: x, expect: deny, to: {service: pay/none}}\n",
       "to.service: no Service pay/none in the loaded manifests"},
      {"  - {name: x, expect: deny, to: {service: pay/api}, ports: [{port: 80}]}\n",
       "ports[0]: TCP 80 is not a port of Service pay/api; expected one of 443/TCP, 9100/TCP"},
      {"  - {name: x, expect: deny, from: {service: pay/api}}\n",
       "from.service: a Service is a destination only"},
      {"  - {name: x, expect: deny, to: {service: api}}\n", "to.service: expected namespace/name"},
      {"  - {name: x, expect: deny, to: {service: pay/api, pod: pay/a}}\n", "use one of"},
  };
  for (const auto& k : cases) {
    model::Diagnostics d;
    auto f = invariants(k.body, d);
    if (d.ok()) expandServiceInvariants(c.cluster, f, d);
    EXPECT_NE(errors(d).find(k.expect), std::string::npos) << k.body << "\n" << errors(d);
  }
}

TEST(ServiceInvariants, NoReadyBackend) {
  auto c = load(R"(
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: pay}
spec: {selector: {app: none}, ports: [{port: 80}]}
)");
  model::Diagnostics d;
  auto f = invariants(
      "  - {name: deny, expect: deny, to: {service: pay/empty}}\n"
      "  - {name: allow, expect: allow, to: {service: pay/empty}}\n",
      d);
  expandServiceInvariants(c.cluster, f, d);
  EXPECT_TRUE(f.invariants.empty()) << "nothing to prove for deny; allow is an error";
  EXPECT_NE(errors(d).find("invariant allow: to.service: Service pay/empty has no ready backend"),
            std::string::npos)
      << errors(d);
}

TEST(ServiceDiff, NewBackendAndTargetPortChange) {
  auto before = load();
  auto after = load(R"(
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: pay, labels: {app: api}}
spec: {containers: [{name: c, ports: [{name: https, containerPort: 8443}]}]}
status: {podIP: 10.1.0.3}
)");
  ASSERT_TRUE(after.diags.ok()) << errors(after.diags);
  model::Engine e1(before.cluster), e2(after.cluster);
  const auto d = diffServices(e1, e2);
  const ServiceDiffEntry* fe = nullptr;
  for (const auto& e : d) {
    if (e.src == "shop/fe[Pod]" && e.service == "svc:pay/api TCP 443") fe = &e;
  }
  ASSERT_NE(fe, nullptr);
  EXPECT_EQ(fe->type, DiffType::Changed);
  ASSERT_EQ(fe->newly_allowed.size(), 1u);
  EXPECT_EQ(fe->newly_allowed[0], "pay/c (10.1.0.3) port 8443");
  EXPECT_TRUE(fe->newly_denied.empty());
  EXPECT_TRUE(diffServices(e1, e1).empty()) << "no change, no entry";
}

}  // namespace
}  // namespace membrane::verify
