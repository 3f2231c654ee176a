// SPDX-License-Identifier: Apache-2.0
#include "model/l7.h"

#include <gtest/gtest.h>

#include "model/loader.h"

namespace membrane::model {
namespace {

LoadResult load(const std::string& yaml) { return loadClusterFromTexts({{"l7.yaml", yaml}}); }

std::string errors(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.diags.errors()) s += e.str() + "\n";
  return s;
}

constexpr const char* kPods = R"(
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: default, labels: {app: server}}
status: {podIP: 10.0.0.2}
---
)";

std::string policyWithRules(const std::string& rules) {
  return std::string(kPods) + R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l7, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toEndpoints: [{matchLabels: {app: server}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
)" + rules;
}

const L7Info* firstL7(const LoadResult& r) {
  for (const auto& rule : r.cluster.policies.rules) {
    if (!rule.l7.empty()) return &rule.l7.front();
  }
  return nullptr;
}

HttpRequest get(std::string target, std::string host = "server") {
  return {.method = "GET", .target = std::move(target), .host = std::move(host)};
}

TEST(L7Parse, HttpRulesBecomeTypedCompiledRules) {
  auto r = load(policyWithRules(R"(        http:
        - {method: GET, path: "/public(/.*)?"}
        - {method: "POST|PUT", path: /upload, host: "api\\.example\\.com",
           headers: ["X-Token", "X-Mode: fast"],
           headerMatches: [{name: X-Team, value: blue}, {name: X-Any}]}
)"));
  ASSERT_TRUE(r.diags.ok()) << errors(r);
  const L7Info* l7 = firstL7(r);
  ASSERT_NE(l7, nullptr);
  EXPECT_EQ(l7->type, "http");
  EXPECT_EQ(l7->rule_count, 2u);
  ASSERT_EQ(l7->http.size(), 2u);
  const HttpRule& up = l7->http[1];
  ASSERT_TRUE(up.host.has_value());
  EXPECT_EQ(up.host->pattern(), "api\\.example\\.com");
  ASSERT_EQ(up.headers.size(), 4u);
  EXPECT_EQ(up.headers[0].str(), "X-Token");
  EXPECT_EQ(up.headers[1].str(), "X-Mode: fast");
  EXPECT_EQ(up.headers[2].str(), "X-Team: blue");
  EXPECT_EQ(up.headers[3].str(), "X-Any");
  EXPECT_EQ(up.origin, "CiliumNetworkPolicy default/l7 spec.egress[0].toPorts[0].rules.http[1]");
  EXPECT_EQ(up.loc.file, "l7.yaml");
  EXPECT_GT(up.loc.line, 0);
}

TEST(L7Parse, BadRegexNamesFileLineColumnAndField) {
  auto r = load(policyWithRules(R"(        http:
        - {method: GET, path: "/a(b"}
)"));
  ASSERT_FALSE(r.diags.ok());
  ASSERT_EQ(r.diags.errors().size(), 1u) << errors(r);
  const Diagnostic& d = r.diags.errors()[0];
  EXPECT_EQ(d.field, "spec.egress[0].toPorts[0].rules.http[0].path");
  EXPECT_EQ(d.loc.file, "l7.yaml");
  EXPECT_EQ(d.loc.line, 23);  // the 23rd line of the text: "- {method: GET, path: ...}"
  EXPECT_EQ(d.loc.column, 31);
  EXPECT_NE(d.message.find("\"/a(b\" is not a POSIX extended regex"), std::string::npos)
      << d.message;
}

TEST(L7Parse, UnbalancedParenIsNotHiddenByAnchoring) {
  // "^(a)|(b)$" would compile; the pattern itself does not.
  EXPECT_FALSE(AnchoredRegex::compile("a)|(b").ok());
}

TEST(L7Parse, BadHeaderAndUnknownKeysAreErrors) {
  auto r = load(policyWithRules(R"(        http:
        - {headers: ["Bad/Header: x"], verb: GET}
        - {headerMatches: [{value: x}]}
)"));
  const std::string e = errors(r);
  EXPECT_NE(e.find("rules.http[0].headers[0]"), std::string::npos) << e;
  EXPECT_NE(e.find("rules.http[0].verb"), std::string::npos) << e;
  EXPECT_NE(e.find("rules.http[1].headerMatches[0].name: required field is missing"),
            std::string::npos)
      << e;
}

TEST(L7Parse, DnsRulesNeedExactlyOneOfNameAndPattern) {
  auto r = load(policyWithRules(R"(        dns:
        - {matchName: "Example.COM."}
        - {matchPattern: "*.cilium.io"}
        - {matchName: a.b, matchPattern: "*"}
        - {matchName: "bad/name"}
)"));
  const std::string e = errors(r);
  EXPECT_NE(e.find("rules.dns[2]: exactly one of matchName and matchPattern"), std::string::npos)
      << e;
  EXPECT_NE(e.find("rules.dns[3].matchName: \"bad/name\" has '/'"), std::string::npos) << e;
  const L7Info* l7 = firstL7(r);
  ASSERT_NE(l7, nullptr);
  ASSERT_EQ(l7->dns.size(), 2u);
  EXPECT_EQ(l7->dns[0].match_name, "example.com");
  EXPECT_EQ(l7->dns[1].match_pattern, "*.cilium.io");
}

HttpPolicy policyOf(const std::string& rules) {
  auto r = load(policyWithRules(rules));
  EXPECT_TRUE(r.diags.ok()) << errors(r);
  const L7Info* l7 = firstL7(r);
  return HttpPolicy{.rules = l7 ? l7->http : std::vector<HttpRule>{}};
}

TEST(L7Match, MethodAndPathAreAnchored) {
  HttpPolicy p = policyOf(R"(        http: [{method: GET, path: /public}]
)");
  EXPECT_TRUE(matchHttp(p, get("/public")).allowed);
  EXPECT_FALSE(matchHttp(p, get("/public/x")).allowed) << "path is anchored at the end";
  EXPECT_FALSE(matchHttp(p, get("/x/public")).allowed) << "path is anchored at the start";
  EXPECT_FALSE(matchHttp(p, get("/private")).allowed);
  HttpRequest post = get("/public");
  post.method = "POST";
  EXPECT_FALSE(matchHttp(p, post).allowed);
  EXPECT_FALSE(matchHttp(p, {.method = "GETX", .target = "/public"}).allowed);
}

TEST(L7Match, ReturnsTheFirstMatchingRule) {
  HttpPolicy p = policyOf(R"(        http:
        - {method: GET, path: "/api/v[0-9]+/.*"}
        - {path: "/api/.*", host: "internal(:[0-9]+)?"}
)");
  HttpMatch m = matchHttp(p, get("/api/v2/items"));
  ASSERT_TRUE(m.allowed);
  EXPECT_EQ(m.rule, &p.rules[0]);
  m = matchHttp(p, {.method = "DELETE", .target = "/api/x", .host = "internal:8080"});
  ASSERT_TRUE(m.allowed);
  EXPECT_EQ(m.rule, &p.rules[1]);
  m = matchHttp(p, {.method = "DELETE", .target = "/api/x", .host = "external"});
  EXPECT_FALSE(m.allowed);
  EXPECT_EQ(m.rule, nullptr);
}

TEST(L7Match, HeadersPresenceAndValueNamesCaseInsensitive) {
  HttpPolicy p = policyOf(R"(        http:
        - {path: /h, headers: ["X-Token"], headerMatches: [{name: X-Team, value: blue}]}
)");
  HttpRequest req = get("/h");
  EXPECT_FALSE(matchHttp(p, req).allowed);
  req.headers = {{"x-token", ""}, {"X-TEAM", "blue"}};
  EXPECT_TRUE(matchHttp(p, req).allowed);
  req.headers = {{"x-token", "1"}, {"X-Team", "Blue"}};
  EXPECT_FALSE(matchHttp(p, req).allowed) << "values compare exactly";
  req.headers = {{"X-Team", "blue"}};
  EXPECT_FALSE(matchHttp(p, req).allowed) << "every header of a rule is required";
}

TEST(L7Match, EmptyRuleAndWildcardAllowEverything) {
  HttpPolicy p = policyOf(R"(        http: [{}]
)");
  EXPECT_TRUE(matchHttp(p, {.method = "PATCH", .target = "/anything"}).allowed);
  HttpPolicy none;
  EXPECT_FALSE(matchHttp(none, get("/")).allowed);
  none.wildcard = true;
  EXPECT_TRUE(matchHttp(none, get("/")).allowed);
}

TEST(L7Match, EmbeddedNulNeverMatches) {
  HttpPolicy p = policyOf(R"(        http: [{path: "/.*"}]
)");
  EXPECT_FALSE(matchHttp(p, get(std::string("/a\0b", 4))).allowed);
}

TEST(L7Match, LongPathDoesNotExhaustTheStack) {
  HttpPolicy p = policyOf(R"(        http: [{path: "(/[a-z]*)*"}]
)");
  std::string path;
  for (int i = 0; i < 20000; ++i) path += "/a";
  EXPECT_TRUE(matchHttp(p, get(path)).allowed);
}

TEST(L7Match, DnsNamesAndPatterns) {
  auto compileDns = [](const std::string& pattern) {
    DnsRule r{.match_pattern = pattern};
    r.pattern_re = *AnchoredRegex::compile(dnsPatternToRegex(pattern));
    return r;
  };
  DnsRule sub = compileDns("*.cilium.io");
  EXPECT_TRUE(dnsRuleMatches(sub, "docs.cilium.io."));
  EXPECT_TRUE(dnsRuleMatches(sub, "DOCS.Cilium.IO"));
  EXPECT_FALSE(dnsRuleMatches(sub, "a.b.cilium.io")) << "* stays within one label";
  EXPECT_FALSE(dnsRuleMatches(sub, "ciliumXio"));
  DnsRule multi = compileDns("**.cilium.io");
  EXPECT_TRUE(dnsRuleMatches(multi, "a.b.cilium.io"));
  EXPECT_FALSE(dnsRuleMatches(multi, "cilium.io"));
  DnsRule all = compileDns("*");
  EXPECT_TRUE(dnsRuleMatches(all, "anything.example"));
  DnsRule name{.match_name = "example.com"};
  EXPECT_TRUE(dnsRuleMatches(name, "Example.com."));
  EXPECT_FALSE(dnsRuleMatches(name, "www.example.com"));
  DnsPolicy dp{.rules = {name, sub}};
  bool allowed = false;
  EXPECT_EQ(matchDns(dp, "x.cilium.io", &allowed), &dp.rules[1]);
  EXPECT_TRUE(allowed);
  EXPECT_EQ(matchDns(dp, "evil.com", &allowed), nullptr);
  EXPECT_FALSE(allowed);
}

}  // namespace
}  // namespace membrane::model
