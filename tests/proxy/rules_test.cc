// SPDX-License-Identifier: Apache-2.0
#include "proxy/rules.h"

#include <gtest/gtest.h>

namespace membrane::proxy {
namespace {

constexpr const char* kRules = R"({
  "version": 1,
  "ipcache": [{"cidr": "10.0.0.0/8", "identity": 100},
              {"cidr": "10.0.0.2/32", "identity": 2000}],
  "entries": [
    {"endpoint": "10.0.0.1", "direction": "egress", "port": 80, "remote_identities": [2000],
     "http": [{"method": "GET", "path": "/public", "origin": "CiliumNetworkPolicy d/a x"}]},
    {"endpoint": "10.0.0.1", "direction": "egress", "port": 80, "remote_identities": [2000],
     "http": [{"path": "/h", "headers": [{"name": "X-Token"}, {"name": "X-Team", "value": "b"}]}]},
    {"endpoint": "10.0.0.2", "direction": "ingress", "port": 8080, "wildcard": true}
  ]
})";

TEST(ProxyRules, ParsesEntriesAndMergesPerKey) {
  auto t = parseRuleTable(kRules, "rules.json");
  ASSERT_TRUE(t) << t.error().str();
  const RuleTable& r = **t;
  EXPECT_EQ(r.identityOf(*model::parseIpv4("10.0.0.2")), 2000u) << "longest prefix wins";
  EXPECT_EQ(r.identityOf(*model::parseIpv4("10.9.0.2")), 100u);
  EXPECT_EQ(r.identityOf(*model::parseIpv4("8.8.8.8")), 2u) << "world";
  model::HttpPolicy p;
  ASSERT_TRUE(r.lookup(*model::parseIpv4("10.0.0.1"), L7Direction::Egress, 2000, 80, &p));
  ASSERT_EQ(p.rules.size(), 2u);
  ASSERT_EQ(p.rules[1].headers.size(), 2u);
  EXPECT_EQ(p.rules[1].headers[1].str(), "X-Team: b");
  model::HttpPolicy none;
  EXPECT_FALSE(r.lookup(*model::parseIpv4("10.0.0.1"), L7Direction::Egress, 2001, 80, &none));
  EXPECT_FALSE(r.lookup(*model::parseIpv4("10.0.0.1"), L7Direction::Egress, 2000, 81, &none));
  EXPECT_FALSE(r.lookup(*model::parseIpv4("10.0.0.1"), L7Direction::Ingress, 2000, 80, &none));
  model::HttpPolicy wild;
  ASSERT_TRUE(r.lookup(*model::parseIpv4("10.0.0.2"), L7Direction::Ingress, 7, 8080, &wild));
  EXPECT_TRUE(wild.wildcard);
}

TEST(ProxyRules, ErrorsNameTheFieldAndExpectation) {
  struct Case {
    const char* text;
    const char* field;
    const char* message;
  };
  const Case cases[] = {
      {R"({"version": 2})", "version", "expected 1"},
      {R"({"version": 1, "entries": [{"endpoint": "10.0.0.1", "direction": "egress",
          "port": 80, "http": [{"path": "/a(b"}]}]})",
       "entries[0].http[0].path", "not a POSIX extended regex"},
      {R"({"version": 1, "entries": [{"endpoint": "10.0.0.300", "direction": "egress",
          "port": 80}]})",
       "entries[0].endpoint", "is not an IPv4 address"},
      {R"({"version": 1, "entries": [{"endpoint": "10.0.0.1", "direction": "up", "port": 80}]})",
       "entries[0].direction", "expected ingress or egress"},
      {R"({"version": 1, "entries": [{"endpoint": "10.0.0.1", "direction": "egress"}]})",
       "entries[0].port", "required field is missing"},
      {R"({"version": 1, "ipcache": [{"cidr": "10.0.0.0/33", "identity": 5}]})", "ipcache[0].cidr",
       "is not an IPv4 CIDR"},
  };
  for (const Case& c : cases) {
    auto t = parseRuleTable(c.text, "r.json");
    ASSERT_FALSE(t) << c.text;
    EXPECT_EQ(t.error().field, c.field) << t.error().str();
    EXPECT_NE(t.error().message.find(c.message), std::string::npos) << t.error().str();
    EXPECT_EQ(t.error().loc.file, "r.json");
  }
  auto syntax = parseRuleTable("{\"version\": 1,", "r.json");
  ASSERT_FALSE(syntax);
  EXPECT_NE(syntax.error().message.find("parse error"), std::string::npos) << syntax.error().str();
}

}  // namespace
}  // namespace membrane::proxy
