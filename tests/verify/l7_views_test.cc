// SPDX-License-Identifier: Apache-2.0
// L7 in lint and diff: HTTP rules that a plain allow turns into a wildcard are found, and a
// change of the HTTP rules (or a new plain allow) is reported per workload pair and side.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "model/loader.h"
#include "verify/l7_diff.h"
#include "verify/lint.h"
#include "verify/verifier.h"

namespace membrane::verify {
namespace {

const char* kPods = R"(apiVersion: v1
kind: Pod
metadata: {name: fe, namespace: shop, labels: {app: fe}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}}
spec: {containers: [{name: c, ports: [{name: web, containerPort: 80}]}]}
status: {podIP: 10.0.0.2}
---
)";

// An HTTP rule on fe's egress to api:80 (`ingress`: on api's ingress from fe instead); `http`
// is the rules.http list in flow style.
std::string l7Policy(const std::string& http, bool ingress = false) {
  const std::string head = ingress ? R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api-l7, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: fe}}]
)"
                                   : R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: fe-l7, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: fe}}
  egress:
  - toEndpoints: [{matchLabels: {app: api}}]
)";
  return head + R"(    toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: )" + http +
         "}}]\n";
}

// A plain allow of fe's egress to api on `port` (a number or a container port name).
std::string plainAllow(const std::string& port, const std::string& peer = "{app: api}") {
  return R"(---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: fe-plain, namespace: shop}
spec:
  podSelector: {matchLabels: {app: fe}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: )" +
         peer + "}}]\n    ports: [{port: " + port + ", protocol: TCP}]\n";
}

model::LoadResult load(const std::string& yaml) {
  auto r = model::loadClusterFromTexts({{"l7.yaml", yaml}});
  EXPECT_TRUE(r.diags.ok());
  return r;
}

std::vector<std::string> l7Shadowed(const std::string& yaml) {
  auto r = load(yaml);
  std::vector<std::string> out;
  for (const auto& f : lint(r.cluster)) {
    if (f.kind != LintKind::L7ShadowedByAllow) continue;
    std::string s = r.cluster.policies.rules[f.rule].policy_name;
    for (size_t id : f.involved) s += " <- " + r.cluster.policies.rules[id].policy_name;
    out.push_back(s);
  }
  return out;
}

TEST(L7Lint, PlainAllowOnTheSamePortMakesTheHttpRulesAWildcard) {
  const std::string l7 = l7Policy("[{method: GET, path: /status}]");
  EXPECT_EQ(l7Shadowed(kPods + l7 + plainAllow("80")),
            std::vector<std::string>{"fe-l7 <- fe-plain"});
  // Another port, or a named port (which the model never widens with), leaves them in force.
  EXPECT_TRUE(l7Shadowed(kPods + l7 + plainAllow("81")).empty());
  EXPECT_TRUE(l7Shadowed(kPods + l7 + plainAllow("web")).empty());
  EXPECT_TRUE(l7Shadowed(kPods + l7).empty());
}

TEST(L7Lint, AllowThatCoversOnlySomePeersIsNotAFinding) {
  // The plain allow admits only api pods labelled tier=edge: towards other api pods (which
  // could exist) the HTTP rules still apply.
  EXPECT_TRUE(
      l7Shadowed(kPods + l7Policy("[{method: GET}]") + plainAllow("80", "{app: api, tier: edge}"))
          .empty());
}

TEST(L7Lint, IngressHttpRulesAreNotWidenedTheyFailClosed) {
  // The datapath drops ingress redirects whatever else allows the port (bpf/lib/proxy.h).
  std::string plain = R"(---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-plain, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: fe}}}]
    ports: [{port: 80, protocol: TCP}]
)";
  EXPECT_TRUE(l7Shadowed(kPods + l7Policy("[{method: GET}]", true) + plain).empty());
}

std::vector<L7DiffEntry> diff(const std::string& a, const std::string& b) {
  auto ra = load(a);
  auto rb = load(b);
  const model::Engine e1(ra.cluster), e2(rb.cluster);
  return diffL7(e1, e2);
}

TEST(L7Diff, ChangedHttpRulesAreReportedForTheEnforcingSide) {
  const std::string before = kPods + l7Policy("[{method: GET, path: /status}]");
  const std::string after = kPods + l7Policy("[{method: GET, path: /status}, {method: POST}]");
  EXPECT_TRUE(diff(before, before).empty()) << "no change, no entry";
  const auto d = diff(before, after);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].src, "shop/fe[Pod]");
  EXPECT_EQ(d[0].dst, "shop/api[Pod]");
  EXPECT_EQ(d[0].conn, "TCP 80");
  EXPECT_EQ(d[0].side, "egress");
  EXPECT_EQ(d[0].before.str(), "http: method=GET path=/status");
  EXPECT_EQ(d[0].after.str(), "http: method=GET path=/status | method=POST");
}

TEST(L7Diff, APlainAllowTurningTheRulesIntoAWildcardIsReported) {
  const std::string before = kPods + l7Policy("[{method: GET}]");
  const auto d = diff(before, before + plainAllow("80"));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(d[0].after.wildcard);
  EXPECT_NE(d[0].after.str().find("every request"), std::string::npos) << d[0].after.str();
  // Removing the L7 rules altogether: the side is decided at L3/L4 afterwards.
  const auto gone = diff(before, std::string(kPods) + plainAllow("80").substr(4));
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].after.str(), "none");
}

// One invariant about `from` -> api:80 with an HTTP request, proved on `yaml`. The result
// points into the invariant file, which lives as long as it.
struct Checked {
  model::LoadResult loaded;
  InvariantFile file;
  InvariantResult result;
};

Checked checkRequest(const std::string& yaml, const std::string& expect, const std::string& from,
                     const std::string& http) {
  Checked c{.loaded = load(yaml)};
  model::Diagnostics diags;
  c.file = parseInvariants("inv.yaml",
                           "apiVersion: membrane/v1\nkind: Invariants\ninvariants:\n- name: req\n"
                           "  expect: " +
                               expect + "\n  from: " + from +
                               "\n  to: {pod: shop/api}\n  ports: [{port: 80, protocol: TCP}]\n"
                               "  http: " +
                               http + "\n",
                           diags);
  EXPECT_TRUE(diags.ok());
  c.result = Verifier(c.loaded.cluster).check(c.file.invariants.at(0));
  return c;
}

TEST(L7Verify, TheProxysAnswerForTheRequestDecides) {
  const std::string y = kPods + l7Policy("[{method: GET, path: /status}]");
  const std::string fe = "{pod: shop/fe}";
  EXPECT_EQ(checkRequest(y, "allow", fe, "{method: GET, path: /status}").result.outcome,
            Outcome::Holds);
  const auto post = checkRequest(y, "allow", fe, "{method: POST, path: /status}").result;
  EXPECT_EQ(post.outcome, Outcome::Violated);
  EXPECT_NE(post.reason.find("DENIED"), std::string::npos) << post.reason;
  ASSERT_TRUE(post.witness.has_value());
  EXPECT_TRUE(post.witness->agrees());
  // Every fe pod that could exist, not just the one of today.
  EXPECT_EQ(checkRequest(y, "deny", "{namespace: shop, podSelector: {matchLabels: {app: fe}}}",
                         "{path: /admin}")
                .result.outcome,
            Outcome::Holds);
  EXPECT_EQ(checkRequest(y, "deny", "{namespace: shop, podSelector: {matchLabels: {app: fe}}}",
                         "{path: /status}")
                .result.outcome,
            Outcome::Violated);
}

TEST(L7Verify, APlainAllowMakesEveryRequestPass) {
  const std::string y = kPods + l7Policy("[{method: GET, path: /status}]") + plainAllow("80");
  const auto admin = checkRequest(y, "deny", "{pod: shop/fe}", "{path: /admin}").result;
  EXPECT_EQ(admin.outcome, Outcome::Violated);
  EXPECT_NE(admin.reason.find("wildcard"), std::string::npos) << admin.reason;
  // A named-port plain allow does not widen (model/l7_decide.cc): /admin stays denied.
  const std::string named = kPods + l7Policy("[{method: GET, path: /status}]") + plainAllow("web");
  EXPECT_EQ(checkRequest(named, "deny", "{pod: shop/fe}", "{path: /admin}").result.outcome,
            Outcome::Holds);
}

TEST(L7Verify, IngressHttpRulesDropEveryRequest) {
  // Fail closed: a packet entering api cannot reach the proxy (bpf/lib/proxy.h).
  const std::string y = kPods + l7Policy("[{method: GET, path: /status}]", true);
  const auto get =
      checkRequest(y, "allow", "{pod: shop/fe}", "{method: GET, path: /status}").result;
  EXPECT_EQ(get.outcome, Outcome::Violated);
  EXPECT_NE(get.reason.find("fail closed"), std::string::npos) << get.reason;
  ASSERT_TRUE(get.witness.has_value());
  EXPECT_TRUE(get.witness->agrees());
  EXPECT_EQ(
      checkRequest(y, "deny", "{pod: shop/fe}", "{method: GET, path: /status}").result.outcome,
      Outcome::Holds);
}

TEST(L7Verify, HttpInvariantErrors) {
  model::Diagnostics diags;
  parseInvariants("bad.yaml",
                  "apiVersion: membrane/v1\nkind: Invariants\ninvariants:\n- name: x\n"
                  "  expect: deny\n  from: {}\n  to: {}\n"
                  "  ports: [{port: 53, protocol: UDP}]\n  http: {path: nopath, verb: GET}\n",
                  diags);
  ASSERT_FALSE(diags.ok());
  std::string all;
  for (const auto& d : diags.errors())
    all += d.loc.file + ":" + std::to_string(d.loc.line) + " " + d.field + ": " + d.message + "\n";
  EXPECT_NE(all.find("bad.yaml:9 invariants[0].http.path"), std::string::npos) << all;
  EXPECT_NE(all.find("invariants[0].http.verb"), std::string::npos) << all;
  EXPECT_NE(all.find("bad.yaml:8 invariants[0].ports[0]: an invariant with http is about TCP"),
            std::string::npos)
      << all;
}

}  // namespace
}  // namespace membrane::verify
