// SPDX-License-Identifier: Apache-2.0
#include "proxy/rules_build.h"

#include <gtest/gtest.h>

#include "model/l7_decide.h"
#include "model/loader.h"
#include "proxy/rules.h"

namespace membrane::proxy {
namespace {

constexpr const char* kCluster = R"(
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
spec: {nodeName: n1}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: default, labels: {app: server}}
spec: {nodeName: n1}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: default, labels: {app: other}}
spec: {nodeName: n1}
status: {podIP: 10.0.0.3}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l7, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toEndpoints: [{matchLabels: {app: server}}, {matchLabels: {app: other}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http: [{method: GET, path: /public, headers: ["X-Team: blue"]}]
)";

constexpr const char* kPlainAllowOther = R"(
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: plain, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toEndpoints: [{matchLabels: {app: other}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
)";

struct Built {
  model::LoadResult load;
  std::shared_ptr<const RuleTable> table;
};

Built build(const std::string& yaml) {
  Built b{.load = model::loadClusterFromTexts({{"c.yaml", yaml}})};
  EXPECT_TRUE(b.load.diags.ok());
  model::Engine engine(b.load.cluster);
  auto t = parseRuleTable(buildRulesJson(engine, "n1"), "built");
  EXPECT_TRUE(t) << t.error().str();
  if (t) b.table = *t;
  return b;
}

model::IdentityId identityOf(const model::LoadResult& r, const std::string& name) {
  for (const auto& p : r.cluster.pods) {
    if (p.name == name) return p.identity;
  }
  return 0;
}

TEST(RulesBuild, EgressHttpRulesPerRemoteIdentityWithTheNodesIpcache) {
  Built b = build(kCluster);
  ASSERT_TRUE(b.table);
  const model::Ipv4 client = *model::parseIpv4("10.0.0.1");
  const auto server = identityOf(b.load, "server");
  EXPECT_EQ(b.table->identityOf(*model::parseIpv4("10.0.0.2")), server);
  model::HttpPolicy p;
  ASSERT_TRUE(b.table->lookup(client, L7Direction::Egress, server, 80, &p));
  EXPECT_FALSE(p.wildcard);
  ASSERT_EQ(p.rules.size(), 1u);
  EXPECT_EQ(p.rules[0].str(), "method=GET path=/public header[X-Team: blue]");
  EXPECT_EQ(p.rules[0].origin,
            "CiliumNetworkPolicy default/l7 spec.egress[0].toPorts[0].rules.http[0]");
  model::HttpPolicy none;
  EXPECT_FALSE(b.table->lookup(client, L7Direction::Egress, server, 81, &none));
  EXPECT_FALSE(b.table->lookup(client, L7Direction::Ingress, server, 80, &none));
}

TEST(RulesBuild, APlainAllowOnTheSamePortMakesThatPeerWildcard) {
  Built b = build(std::string(kCluster) + kPlainAllowOther);
  ASSERT_TRUE(b.table);
  const model::Ipv4 client = *model::parseIpv4("10.0.0.1");
  model::HttpPolicy to_other, to_server;
  ASSERT_TRUE(
      b.table->lookup(client, L7Direction::Egress, identityOf(b.load, "other"), 80, &to_other));
  EXPECT_TRUE(to_other.wildcard);
  ASSERT_TRUE(
      b.table->lookup(client, L7Direction::Egress, identityOf(b.load, "server"), 80, &to_server));
  EXPECT_FALSE(to_server.wildcard);
}

TEST(RulesBuild, IdentitiesAreTranslatedToTheDatapathsNumbers) {
  auto load = model::loadClusterFromTexts({{"c.yaml", kCluster}});
  ASSERT_TRUE(load.diags.ok());
  model::Engine engine(load.cluster);
  auto t = parseRuleTable(
      buildRulesJson(engine, "n1", [](model::IdentityId id) { return id + 100000; }), "built");
  ASSERT_TRUE(t) << t.error().str();
  const auto server = identityOf(load, "server");
  EXPECT_EQ((*t)->identityOf(*model::parseIpv4("10.0.0.2")), server + 100000);
  model::HttpPolicy p;
  EXPECT_TRUE(
      (*t)->lookup(*model::parseIpv4("10.0.0.1"), L7Direction::Egress, server + 100000, 80, &p));
  EXPECT_FALSE((*t)->lookup(*model::parseIpv4("10.0.0.1"), L7Direction::Egress, server, 80, &p));
}

// Two views of one HTTP request: the model (decideHttp on the flow's verdict) and the proxy
// (the rules file built for the node, looked up and matched as a session does).
TEST(RulesBuild, ModelAndProxyAgreeOnEveryRequest) {
  auto load = model::loadClusterFromTexts({{"c.yaml", std::string(kCluster) + kPlainAllowOther}});
  ASSERT_TRUE(load.diags.ok());
  model::Engine engine(load.cluster);
  auto t = parseRuleTable(buildRulesJson(engine, "n1"), "built");
  ASSERT_TRUE(t) << t.error().str();
  const std::vector<model::HttpRequest> requests = {
      {.method = "GET", .target = "/public", .headers = {{"X-Team", "blue"}}},
      {.method = "GET", .target = "/public"},
      {.method = "POST", .target = "/public", .headers = {{"X-Team", "blue"}}},
      {.method = "GET", .target = "/private", .headers = {{"x-team", "blue"}}},
  };
  int allowed_to_server = 0, allowed_to_other = 0;
  for (const char* peer : {"server", "other"}) {
    const size_t dst = *load.cluster.findPod("default", peer);
    const model::Flow flow{.src = {.pod = *load.cluster.findPod("default", "client"),
                                   .ip = *model::parseIpv4("10.0.0.1")},
                           .dst = {.pod = dst, .ip = *load.cluster.pods[dst].ip},
                           .protocol = model::kProtoTCP,
                           .port = 80};
    const model::Verdict v = engine.evaluate(flow);
    ASSERT_TRUE(v.l7_restricted) << peer;
    for (const auto& req : requests) {
      const bool by_model = model::decideHttp(engine, flow, v, req).allowed;
      model::HttpPolicy p;
      const bool found =
          (*t)->lookup(flow.src.ip, L7Direction::Egress, (*t)->identityOf(flow.dst.ip), 80, &p);
      const bool by_proxy = found && model::matchHttp(p, req).allowed;
      EXPECT_EQ(by_model, by_proxy) << peer << " " << req.method << " " << req.target;
      (std::string(peer) == "server" ? allowed_to_server : allowed_to_other) += by_model;
    }
  }
  EXPECT_EQ(allowed_to_server, 1) << "only GET /public with X-Team: blue";
  EXPECT_EQ(allowed_to_other, 4) << "a plain allow to other on port 80: wildcard";
}

TEST(RulesBuild, ExplainNamesTheMatchingRuleOrThePolicy) {
  auto load = model::loadClusterFromTexts({{"c.yaml", kCluster}});
  ASSERT_TRUE(load.diags.ok());
  model::Engine engine(load.cluster);
  const size_t dst = *load.cluster.findPod("default", "server");
  const model::Flow flow{.src = {.pod = *load.cluster.findPod("default", "client"),
                                 .ip = *model::parseIpv4("10.0.0.1")},
                         .dst = {.pod = dst, .ip = *load.cluster.pods[dst].ip},
                         .port = 80};
  const model::Verdict v = engine.evaluate(flow);
  model::HttpRequest ok{.method = "GET", .target = "/public", .headers = {{"X-Team", "blue"}}};
  EXPECT_EQ(model::explainHttp(model::decideHttp(engine, flow, v, ok), ok),
            "HTTP GET /public: ALLOWED\n    egress: allowed by CiliumNetworkPolicy default/l7 "
            "spec.egress[0].toPorts[0].rules.http[0]\n    ingress: no L7 rules (decided at L3/L4)");
  model::HttpRequest bad{.method = "GET", .target = "/private"};
  EXPECT_EQ(model::explainHttp(model::decideHttp(engine, flow, v, bad), bad),
            "HTTP GET /private: DENIED (the proxy answers 403)\n    egress: DENIED, no HTTP rule "
            "of CiliumNetworkPolicy default/l7 matches\n    ingress: no L7 rules (decided at "
            "L3/L4)");
}

}  // namespace
}  // namespace membrane::proxy
