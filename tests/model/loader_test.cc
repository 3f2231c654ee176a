// SPDX-License-Identifier: Apache-2.0
#include "model/loader.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cctype>

namespace membrane::model {
namespace {

LoadResult load(const std::string& yaml) { return loadClusterFromTexts({{"test.yaml", yaml}}); }

std::string errors(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.diags.errors()) s += e.str() + "\n";
  return s;
}

constexpr const char* kBase = R"(
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {env: prod}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: prod, labels: {app: web, pod-template-hash: abc}}
spec:
  containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: prod, labels: {app: web, pod-template-hash: def}}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: prod, labels: {app: db}}
status: {podIP: 10.0.0.3}
)";

TEST(Loader, PodsWithSameRelevantLabelsShareAnIdentity) {
  auto r = load(kBase);
  ASSERT_TRUE(r.diags.ok()) << errors(r);
  const auto& pods = r.cluster.pods;
  ASSERT_EQ(pods.size(), 3u);
  EXPECT_EQ(pods[0].identity, pods[1].identity) << "pod-template-hash is not identity-relevant";
  EXPECT_NE(pods[0].identity, pods[2].identity);
  EXPECT_GE(pods[0].identity, kMinimalAllocatedIdentity);
  const Identity* id = r.cluster.identity(pods[0].identity);
  ASSERT_NE(id, nullptr);
  EXPECT_NE(id->labels.find("k8s", "io.kubernetes.pod.namespace"), nullptr);
  EXPECT_EQ(id->labels.find("k8s", "io.cilium.k8s.policy.cluster")->value, "default");
  EXPECT_EQ(id->labels.find("k8s", "io.cilium.k8s.namespace.labels.env")->value, "prod");
  EXPECT_EQ(id->labels.find("k8s", "io.cilium.k8s.policy.serviceaccount")->value, "default");
  EXPECT_EQ(id->labels.find("k8s", "pod-template-hash"), nullptr);
}

TEST(Loader, ReservedIdentitiesHaveCiliumNumbers) {
  auto r = load(kBase);
  EXPECT_EQ(r.cluster.identity(1)->labels.str(), "reserved:host");
  EXPECT_EQ(r.cluster.identity(2)->labels.str(), "reserved:world");
  EXPECT_EQ(r.cluster.identity(6)->labels.str(), "reserved:remote-node");
  EXPECT_EQ(r.cluster.identity(7)->labels.str(), "reserved:kube-apiserver");
  EXPECT_EQ(r.cluster.identity(9)->labels.str(), "reserved:world-ipv4");
  EXPECT_EQ(reservedIdentityByName("ingress"), 8u);
}

TEST(Loader, ClusterIdGoesIntoHighBits) {
  auto r = loadClusterFromTexts({{"t.yaml", kBase}}, {.name = "c2", .id = 5});
  ASSERT_TRUE(r.diags.ok());
  EXPECT_EQ(clusterIdOf(r.cluster.pods[0].identity), 5u);
  EXPECT_EQ(r.cluster.identity(r.cluster.pods[0].identity)
                ->labels.find("k8s", "io.cilium.k8s.policy.cluster")
                ->value,
            "c2");
}

TEST(Loader, AllocationIsDeterministicAcrossFileOrder) {
  std::string a = "apiVersion: v1\nkind: Pod\nmetadata: {name: x, labels: {app: x}}\n";
  std::string b = "apiVersion: v1\nkind: Pod\nmetadata: {name: y, labels: {app: y}}\n";
  auto r1 = loadClusterFromTexts({{"a", a}, {"b", b}});
  auto r2 = loadClusterFromTexts({{"b", b}, {"a", a}});
  EXPECT_EQ(r1.cluster.pods[*r1.cluster.findPod("default", "x")].identity,
            r2.cluster.pods[*r2.cluster.findPod("default", "x")].identity);
}

TEST(Loader, WorkloadsExpandIntoPods) {
  auto r = load(R"(
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.1.0.0/24}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
spec: {podCIDR: 10.2.0.0/24}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 3
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: shop}
spec: {template: {metadata: {labels: {app: agent}}, spec: {containers: [{name: c}]}}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup, namespace: shop}
spec: {jobTemplate: {spec: {template: {metadata: {labels: {app: backup}}, spec: {containers: [{name: c}]}}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored2}
)");
  ASSERT_TRUE(r.diags.ok()) << errors(r);
  const auto& c = r.cluster;
  ASSERT_EQ(c.workloads.size(), 3u);
  EXPECT_EQ(c.workloads[0].replicas, 3);
  EXPECT_EQ(c.workloads[1].replicas, 2) << "a DaemonSet has one pod per node";
  EXPECT_EQ(c.pods.size(), 3u + 2u + 1u);
  EXPECT_EQ(c.pods[0].identity, c.pods[2].identity);
  EXPECT_TRUE(c.pods[0].ip.has_value());
  EXPECT_NE(c.pods[0].ip, c.pods[1].ip);
  EXPECT_EQ(c.pods[0].ports.at(0).name, "http");
  EXPECT_TRUE(c.findNamespace("shop")) << "referenced namespaces exist implicitly";
  EXPECT_EQ(c.ignored_kinds.at("ConfigMap"), 2);
  EXPECT_EQ(r.diags.warnings().size(), 1u) << "ignored kinds are reported once per kind";
}

TEST(Loader, ServicesLinkToPods) {
  auto r = load(std::string(kBase) + R"(
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: prod}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: http}]}
)");
  ASSERT_TRUE(r.diags.ok()) << errors(r);
  ASSERT_EQ(r.cluster.services.size(), 1u);
  EXPECT_EQ(r.cluster.services[0].backends.size(), 2u);
  EXPECT_EQ(r.cluster.services[0].ports[0].target_port, "http");
}

struct BadCase {
  const char* name;
  const char* yaml;
  const char* expect;  // substring of the first error
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadInput, ReportsPreciseError) {
  auto r = load(GetParam().yaml);
  ASSERT_FALSE(r.diags.ok()) << GetParam().name;
  EXPECT_NE(errors(r).find(GetParam().expect), std::string::npos) << errors(r);
  EXPECT_GT(r.diags.errors()[0].loc.line, 0) << "errors carry a line";
}

INSTANTIATE_TEST_SUITE_P(
    Loader, BadInput,
    ::testing::Values(
        BadCase{"malformed", "kind: Pod\nmetadata: {name: [x\n", "malformed YAML"},
        BadCase{"no kind", "apiVersion: v1\nmetadata: {name: x}\n",
                "kind: required field is missing"},
        BadCase{"no apiVersion", "kind: Pod\nmetadata: {name: x}\n",
                "apiVersion: required field is missing"},
        BadCase{"wrong type",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: "
                "many, template: {}}\n",
                "spec.replicas: \"many\" is not an integer"},
        BadCase{"bad label value",
                "apiVersion: v1\nkind: Pod\nmetadata: {name: x, labels: {app: \"a b\"}}\n",
                "metadata.labels.app: invalid label value"},
        BadCase{"bad operator",
                "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, "
                "namespace: d}\nspec:\n  endpointSelector: {matchExpressions: [{key: a, operator: "
                "Maybe}]}\n  ingress: [{}]\n",
                "CiliumNetworkPolicy d/p: spec.endpointSelector.matchExpressions[0].operator: "
                "\"Maybe\" is not a selector operator"},
        BadCase{"bad port",
                "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: db, "
                "namespace: default}\nspec:\n  endpointSelector: {}\n  ingress:\n  - toPorts: "
                "[{ports: [{port: \"http-x!\"}]}]\n",
                "spec.ingress[0].toPorts[0].ports[0].port: \"http-x!\" is not a port number"},
        BadCase{"port out of range",
                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: "
                "n}\nspec:\n  podSelector: {}\n  ingress: [{ports: [{port: 70000}]}]\n",
                "is not a port number"},
        BadCase{"unknown field",
                "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\nspec:\n "
                " endpointSelector: {}\n  ingres: [{}]\n",
                "spec.ingres: unknown field"},
        BadCase{"unknown entity",
                "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\nspec:\n "
                " endpointSelector: {}\n  egress: [{toEntities: [moon]}]\n",
                "\"moon\" is not an entity"},
        BadCase{"bad cidr",
                "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\nspec:\n "
                " endpointSelector: {}\n  egress: [{toCIDR: [10.0.0.0/33]}]\n",
                "invalid prefix length"},
        BadCase{"combined peers",
                "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\nspec:\n "
                " endpointSelector: {}\n  egress: [{toCIDR: [10.0.0.0/8], toEntities: [world]}]\n",
                "is not supported"},
        BadCase{"empty rule",
                "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\nspec:\n "
                " endpointSelector: {}\n",
                "rule must have at least one of"}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& ch : n) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
      return n;
    });

TEST(Loader, ReportsAllErrorsNotOnlyTheFirst) {
  auto r = load(
      "apiVersion: v1\nkind: Pod\nmetadata: {name: x, labels: {a: \"!\"}}\n---\n"
      "apiVersion: v1\nkind: Pod\nmetadata: {name: y, labels: {b: \"?\"}}\n");
  EXPECT_EQ(r.diags.errors().size(), 2u);
}

TEST(Loader, MissingFileIsAnError) {
  auto r = loadCluster({"/nonexistent/membrane.yaml"});
  ASSERT_FALSE(r.diags.ok());
  EXPECT_NE(errors(r).find("no such file"), std::string::npos);
}

// Truncated and random input never crashes the loader.
RC_GTEST_PROP(LoaderProperty, TruncatedInputNeverCrashes, ()) {
  const std::string doc = std::string(kBase) + R"(---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: p, namespace: prod}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: db}}]
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
  egressDeny: [{toCIDRSet: [{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}]}]
)";
  const auto cut = *rc::gen::inRange<size_t>(0, doc.size());
  auto r = load(doc.substr(0, cut));
  (void)r;
}

RC_GTEST_PROP(LoaderProperty, RandomBytesNeverCrash, ()) {
  const auto s = *rc::gen::container<std::string>(rc::gen::elementOf(
      std::string("abk:{}[]-,\n \"'#&*!|>0123456789.apiVersionkindmetadataspec")));
  auto r = load(s);
  (void)r;
}

}  // namespace
}  // namespace membrane::model
