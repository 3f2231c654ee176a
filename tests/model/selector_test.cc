// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "model/labels.h"

namespace membrane::model {
namespace {

Labels labels(std::initializer_list<std::pair<const char*, const char*>> kv) {
  Labels l;
  for (auto [k, v] : kv) l.add("k8s", k, v);
  return l;
}

Requirement req(const char* key, SelectorOp op, std::vector<std::string> values = {}) {
  return {.source = "k8s", .key = key, .op = op, .values = std::move(values)};
}

TEST(Selector, InMatchesListedValuesOnly) {
  LabelSelector s;
  s.add(req("app", SelectorOp::In, {"web", "api"}));
  EXPECT_TRUE(s.matches(labels({{"app", "web"}})));
  EXPECT_TRUE(s.matches(labels({{"app", "api"}})));
  EXPECT_FALSE(s.matches(labels({{"app", "db"}})));
  EXPECT_FALSE(s.matches(labels({})));
}

TEST(Selector, NotInMatchesAbsentKey) {
  LabelSelector s;
  s.add(req("app", SelectorOp::NotIn, {"web"}));
  EXPECT_FALSE(s.matches(labels({{"app", "web"}})));
  EXPECT_TRUE(s.matches(labels({{"app", "db"}})));
  EXPECT_TRUE(s.matches(labels({})));
}

TEST(Selector, ExistsAndDoesNotExist) {
  LabelSelector e, d;
  e.add(req("tier", SelectorOp::Exists));
  d.add(req("tier", SelectorOp::DoesNotExist));
  EXPECT_TRUE(e.matches(labels({{"tier", ""}})));
  EXPECT_FALSE(e.matches(labels({{"app", "x"}})));
  EXPECT_FALSE(d.matches(labels({{"tier", "a"}})));
  EXPECT_TRUE(d.matches(labels({{"app", "x"}})));
}

TEST(Selector, EmptySelectorMatchesEverything) {
  LabelSelector s;
  EXPECT_TRUE(s.matches(labels({})));
  EXPECT_TRUE(s.matches(labels({{"a", "b"}})));
}

TEST(Selector, SourcesAreDistinctButAnyMatchesAll) {
  Labels l;
  l.add("reserved", "host", "");
  LabelSelector k8s, any, reserved;
  k8s.add({.source = "k8s", .key = "host", .op = SelectorOp::Exists});
  any.add({.source = "any", .key = "host", .op = SelectorOp::Exists});
  reserved.add({.source = "reserved", .key = "host", .op = SelectorOp::Exists});
  EXPECT_FALSE(k8s.matches(l));
  EXPECT_TRUE(any.matches(l));
  EXPECT_TRUE(reserved.matches(l));
}

TEST(Selector, SplitLabelKeyKnowsSources) {
  EXPECT_EQ(splitLabelKey("k8s:app", "any"),
            std::make_pair(std::string("k8s"), std::string("app")));
  EXPECT_EQ(splitLabelKey("reserved:host", "k8s").first, "reserved");
  EXPECT_EQ(splitLabelKey("app.kubernetes.io/name", "k8s").second, "app.kubernetes.io/name");
  EXPECT_EQ(splitLabelKey("weird:key", "k8s"),
            std::make_pair(std::string("k8s"), std::string("weird:key")));
}

TEST(Selector, LabelValueValidation) {
  std::string why;
  EXPECT_TRUE(validLabelValue("", &why));
  EXPECT_TRUE(validLabelValue("a-b.c_d", &why));
  EXPECT_FALSE(validLabelValue("-a", &why));
  EXPECT_FALSE(validLabelValue("a b", &why));
  EXPECT_FALSE(validLabelValue(std::string(64, 'a'), &why));
  EXPECT_FALSE(validLabelKey("a/", &why));
}

// Naive reference: a direct reading of the Kubernetes selector rules on a std::map.
bool naiveMatch(const std::vector<std::tuple<int, int, std::vector<int>>>& reqs,
                const std::map<int, int>& ls) {
  for (const auto& [key, op, values] : reqs) {
    auto it = ls.find(key);
    bool in = it != ls.end() && std::find(values.begin(), values.end(), it->second) != values.end();
    bool ok = op == 0 ? in : op == 1 ? !in : op == 2 ? it != ls.end() : it == ls.end();
    if (!ok) return false;
  }
  return true;
}

RC_GTEST_PROP(SelectorProperty, AgreesWithNaiveReference, ()) {
  std::map<int, int> ls;
  const int nlabels = *rc::gen::inRange(0, 5);
  for (int i = 0; i < nlabels; ++i) ls[*rc::gen::inRange(0, 4)] = *rc::gen::inRange(0, 3);
  const auto n = *rc::gen::inRange(0, 4);
  std::vector<std::tuple<int, int, std::vector<int>>> reqs;
  LabelSelector sel;
  for (int i = 0; i < n; ++i) {
    const int key = *rc::gen::inRange(0, 4);
    const int op = *rc::gen::inRange(0, 4);
    std::vector<int> values;
    if (op < 2) {
      const int nv = *rc::gen::inRange(1, 4);
      for (int v = 0; v < nv; ++v) values.push_back(*rc::gen::inRange(0, 3));
    }
    reqs.push_back({key, op, values});
    std::vector<std::string> sv;
    for (int v : values) sv.push_back("v" + std::to_string(v));
    sel.add({.source = "k8s",
             .key = "k" + std::to_string(key),
             .op = static_cast<SelectorOp>(op),
             .values = sv});
  }
  Labels l;
  for (auto [k, v] : ls) l.add("k8s", "k" + std::to_string(k), "v" + std::to_string(v));
  RC_ASSERT(sel.matches(l) == naiveMatch(reqs, ls));
}

}  // namespace
}  // namespace membrane::model
