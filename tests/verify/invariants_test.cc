// SPDX-License-Identifier: Apache-2.0
#include "verify/invariants.h"

#include <gtest/gtest.h>

namespace membrane::verify {
namespace {

TEST(Invariants, ParsesTheDocumentedShape) {
  model::Diagnostics d;
  auto f = parseInvariants("inv.yaml", R"(apiVersion: membrane/v1
kind: Invariants
invariants:
  - name: db-only-from-backend
    expect: deny
    from: {namespace: prod, podSelector: {matchLabels: {app: frontend}}}
    to:   {namespace: prod, podSelector: {matchLabels: {app: db}}}
    ports: [{port: 5432, protocol: TCP}, {port: 8000, endPort: 8080}, {protocol: ICMP, type: 8}]
    scope: existing
  - name: world
    expect: allow
    from: {entity: world}
    to: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
)",
                           d);
  ASSERT_TRUE(d.ok()) << (d.errors().empty() ? "" : d.errors()[0].str());
  ASSERT_EQ(f.invariants.size(), 2u);
  const Invariant& a = f.invariants[0];
  EXPECT_EQ(a.expect, Expect::Deny);
  EXPECT_EQ(a.scope, Scope::Existing);
  ASSERT_EQ(a.ports.size(), 3u);
  EXPECT_EQ(a.ports[1].end_port, 8080);
  EXPECT_EQ(a.ports[2].protocol, model::kProtoICMP);
  EXPECT_EQ(a.ports[2].port, 8);
  EXPECT_EQ(a.from.podLabelSelector().str(),
            "{k8s:app=frontend, k8s:io.kubernetes.pod.namespace=prod}");
  EXPECT_EQ(a.loc.line, 4);
  const Invariant& b = f.invariants[1];
  EXPECT_EQ(b.scope, Scope::Any);
  EXPECT_EQ(*b.from.entity, "world");
  ASSERT_TRUE(b.to.cidr);
  EXPECT_EQ(b.to.cidr->except.size(), 1u);
}

struct BadCase {
  const char* body;
  int line;
  const char* field;
};

TEST(Invariants, ErrorsNameLineAndField) {
  const BadCase cases[] = {
      {"  - name: a\n    expect: maybe\n", 5, "invariants[0].expect"},
      {"  - name: a\n    expect: deny\n    from: {entity: moon}\n", 6, "invariants[0].from.entity"},
      {"  - name: a\n    expect: deny\n    to: {cidr: 10.0.0.0/8, except: [11.0.0.0/8]}\n", 6,
       "invariants[0].to.except[0]"},
      {"  - name: a\n    expect: deny\n    colour: red\n", 6, "invariants[0].colour"},
      {"  - name: a\n    expect: deny\n    ports: [{port: 70000}]\n", 6,
       "invariants[0].ports[0].port"},
      {"  - name: a\n    expect: deny\n    scope: sometimes\n", 6, "invariants[0].scope"},
  };
  for (const auto& c : cases) {
    model::Diagnostics d;
    parseInvariants(
        "bad.yaml",
        std::string("apiVersion: membrane/v1\nkind: Invariants\ninvariants:\n") + c.body, d);
    ASSERT_FALSE(d.ok()) << c.body;
    EXPECT_EQ(d.errors()[0].loc.line, c.line) << d.errors()[0].str();
    EXPECT_NE(d.errors()[0].field.find(c.field), std::string::npos) << d.errors()[0].str();
  }
}

TEST(Invariants, RejectsWrongKind) {
  model::Diagnostics d;
  parseInvariants("x.yaml", "apiVersion: v1\nkind: Pod\n", d);
  EXPECT_FALSE(d.ok());
}

}  // namespace
}  // namespace membrane::verify
