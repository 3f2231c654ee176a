// SPDX-License-Identifier: Apache-2.0
// scenario.yaml: schema errors with file:line:column, unknown fields, defaults; a corpus
// case directory is a scenario; topology derivation.
#include "sim/scenario.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sim/sim.h"

namespace membrane::sim {
namespace {
namespace fs = std::filesystem;

const std::string kSrc = MEMBRANE_SOURCE_DIR;

// A copy of a shipped scenario with a custom scenario.yaml, in a temporary directory.
std::string withScenarioYaml(const std::string& from, const std::string& yaml) {
  const fs::path dir =
      fs::temp_directory_path() /
      ("membrane-scn-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
       ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"manifests.yaml", "expect.yaml"}) {
    fs::copy_file(fs::path(kSrc) / from / f, dir / f);
  }
  std::ofstream(dir / "scenario.yaml") << yaml;
  return dir.string();
}

std::string firstError(const model::Diagnostics& d) {
  return d.errors().empty() ? "" : d.errors().front().str();
}

TEST(Scenario, CorpusCaseIsAScenario) {
  model::Diagnostics d;
  auto s = loadScenario(kSrc + "/scenarios/three-tier", d);
  ASSERT_TRUE(s) << firstError(d);
  EXPECT_EQ(s->routing, Routing::Overlay);
  EXPECT_EQ(s->cluster.name, "default");
  EXPECT_FALSE(s->c.steps.empty());
}

TEST(Scenario, ReadsClusterRoutingNodesAndTraffic) {
  const std::string dir = withScenarioYaml("scenarios/namespace-isolation", R"(cluster:
  name: prod
  id: 7
  routing: native
  nodes:
  - name: node-1
    internalIP: 192.168.7.1
    podCIDR: 10.244.1.0/24
traffic:
- {from: team-a/a1, to: team-a/a2, protocol: TCP, port: "8080", rate: 50, duration: 2}
)");
  model::Diagnostics d;
  auto s = loadScenario(dir, d);
  ASSERT_TRUE(s) << firstError(d);
  EXPECT_EQ(s->routing, Routing::Native);
  EXPECT_EQ(s->cluster.name, "prod");
  EXPECT_EQ(s->cluster.id, 7u);
  ASSERT_EQ(s->nodes.size(), 1u);
  EXPECT_EQ(s->nodes[0].internal_ip, model::parseIpv4("192.168.7.1"));
  ASSERT_EQ(s->traffic.size(), 1u);
  EXPECT_EQ(s->traffic[0].rate_pps, 50u);
  // Topology: node-1 from scenario.yaml, node-2 derived from spec.nodeName.
  auto loaded = loadCaseCluster(s->c, 0, s->cluster);
  ASSERT_TRUE(loaded.diags.ok());
  std::string why;
  auto t = buildTopology(*s, loaded.cluster, &why);
  ASSERT_TRUE(t) << why;
  ASSERT_EQ(t->nodes.size(), 2u);
  EXPECT_EQ(t->nodes[0].ip, *model::parseIpv4("192.168.7.1"));
  EXPECT_EQ(t->nodes[1].ip, *model::parseIpv4("172.18.0.2"));
  EXPECT_EQ(t->pod_node.at("team-a/a2"), "node-2");
}

TEST(Scenario, UnknownFieldIsAnErrorWithPosition) {
  const std::string dir =
      withScenarioYaml("scenarios/deny-precedence", "cluster:\n  name: x\n  routeing: native\n");
  model::Diagnostics d;
  EXPECT_FALSE(loadScenario(dir, d));
  ASSERT_FALSE(d.errors().empty());
  EXPECT_NE(firstError(d).find("scenario.yaml:3:"), std::string::npos) << firstError(d);
  EXPECT_NE(firstError(d).find("routeing"), std::string::npos) << firstError(d);
}

TEST(Scenario, BadValuesAreErrors) {
  for (const auto& [yaml, needle] : std::vector<std::pair<std::string, std::string>>{
           {"cluster:\n  routing: vxlan\n", "not overlay or native"},
           {"cluster:\n  id: 300\n", "out of range"},
           {"cluster:\n  nodes:\n  - name: n\n    internalIP: 10.0.0\n", "not an IPv4 address"},
           {"traffic:\n- {from: a, to: b, protocol: GRE}\n", "not TCP, UDP, SCTP or ICMP"},
           {"traffic:\n- {from: a, to: b, port: \"1\", expect: maybe}\n", "not allow or deny"},
           {"invariants: nope.yaml\n", "no such file"},
           {"- 1\n", "expected a map"}}) {
    const std::string dir = withScenarioYaml("scenarios/deny-precedence", yaml);
    model::Diagnostics d;
    EXPECT_FALSE(loadScenario(dir, d)) << yaml;
    EXPECT_NE(firstError(d).find(needle), std::string::npos) << yaml << " -> " << firstError(d);
    EXPECT_NE(firstError(d).find("scenario.yaml:"), std::string::npos) << firstError(d);
  }
}

TEST(Scenario, ModelBackendMatchesShippedExpectations) {
  for (const char* name : {"three-tier", "namespace-isolation", "deny-precedence",
                           "world-cidr-egress", "multi-node-overlay", "multi-node-native"}) {
    model::Diagnostics d;
    auto s = loadScenario(kSrc + "/scenarios/" + name, d);
    ASSERT_TRUE(s) << name << ": " << firstError(d);
    auto backend = makeModelBackend();
    SimReport r = runScenario(*s, *backend, {});
    EXPECT_TRUE(r.ok()) << name << ": " << r.mismatches << " mismatches, " << firstError(r.diags);
    EXPECT_GT(r.cells.size(), 10u) << name;
  }
}

TEST(Scenario, MismatchIsReported) {
  // Flip one expectation: the runner must count it.
  const fs::path dir = fs::path(withScenarioYaml("scenarios/deny-precedence", "{}\n"));
  std::ifstream in(dir / "expect.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  const auto at = text.find("app/client            .");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 23, "app/client            X");
  std::ofstream(dir / "expect.yaml") << text;
  model::Diagnostics d;
  auto s = loadScenario(dir.string(), d);
  ASSERT_TRUE(s) << firstError(d);
  auto backend = makeModelBackend();
  SimReport r = runScenario(*s, *backend, {});
  EXPECT_EQ(r.mismatches, 1u);
  EXPECT_FALSE(r.ok());
}

// Judging rules of `membrane sim` (docs/scenarios.md, "Judging").
TEST(SimJudge, ObservationAgreesWithTheModel) {
  EXPECT_TRUE(observationAgrees(Cell::Allowed, Cell::Allowed));
  EXPECT_TRUE(observationAgrees(Cell::Ingress, Cell::Ingress));
  EXPECT_TRUE(observationAgrees(Cell::Ingress, Cell::Blocked));  // side unknown to the backend
  EXPECT_FALSE(observationAgrees(Cell::Allowed, Cell::Ingress));
  EXPECT_FALSE(observationAgrees(Cell::Egress, Cell::Allowed));
  EXPECT_FALSE(observationAgrees(Cell::Egress, Cell::Ingress));  // the other side dropped it
}

TEST(SimJudge, TrafficNeedsEveryConnectionOrNone) {
  Scenario s;
  s.traffic.resize(1);
  auto judge = [&](Cell expected, Cell observed, size_t sent, size_t delivered) {
    std::vector<TrafficCheck> t(1);
    t[0].cell.expected = expected;
    t[0].cell.predicted = expected;
    t[0].cell.observed = observed;
    return judgeTraffic(t, {{.flow = &s.traffic[0], .sent = sent, .delivered = delivered}}, s);
  };
  EXPECT_EQ(judge(Cell::Allowed, Cell::Allowed, 10, 10), 0u);
  EXPECT_EQ(judge(Cell::Allowed, Cell::Allowed, 10, 9), 1u);
  EXPECT_EQ(judge(Cell::Allowed, Cell::Allowed, 0, 0), 1u);
  EXPECT_EQ(judge(Cell::Blocked, Cell::Ingress, 10, 0), 0u);
  EXPECT_EQ(judge(Cell::Blocked, Cell::Ingress, 10, 1), 1u);
  EXPECT_EQ(judge(Cell::Allowed, Cell::Ingress, 10, 10), 1u);  // the probe itself failed
}

TEST(SimJudge, ScenarioWithoutAnythingToJudgeIsAnError) {
  const fs::path dir =
      fs::temp_directory_path() /
      ("membrane-empty-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(fs::path(kSrc) / "scenarios/deny-precedence/manifests.yaml",
                dir / "manifests.yaml");
  std::ofstream(dir / "expect.yaml") << "steps:\n  - name: initial\n    probes: []\n";
  model::Diagnostics d;
  auto s = loadScenario(dir.string(), d);
  ASSERT_TRUE(s) << firstError(d);
  auto backend = makeModelBackend();
  SimReport r = runScenario(*s, *backend, {});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(firstError(r.diags).find("nothing to judge"), std::string::npos) << firstError(r.diags);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace membrane::sim
