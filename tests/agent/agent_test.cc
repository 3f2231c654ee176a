// SPDX-License-Identifier: Apache-2.0
// The agent's logic against a fake NodeNet and a real (unpinned) datapath: endpoint
// creation and its rollback at every failing step, idempotent PUT, conflicts, reconcile
// diffs on manifest changes, re-adoption after a restart without re-creating anything.
#include "agent/agent.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/api.h"
#include "model/ip.h"
#include "tests/agent/fake_node_net.h"
#include "tests/support/privileged.h"

namespace membrane::agent {
namespace {

constexpr const char* kManifests = R"(apiVersion: v1
kind: Pod
metadata: {namespace: default, name: web, labels: {app: web}}
spec: {nodeName: node-1}
---
apiVersion: v1
kind: Node
metadata: {name: node-2}
spec: {podCIDR: 10.0.2.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.0.3}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: default, name: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 8080, protocol: TCP}]
)";

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MEMBRANE_REQUIRE_OR_SKIP(geteuid() == 0, "needs root to load the BPF datapath");
    char t[] = "/tmp/membrane-agent-test-XXXXXX";
    dir_ = mkdtemp(t);
    std::filesystem::create_directories(dir_ + "/man");
    std::ofstream(dir_ + "/man/m.yaml") << kManifests;
    config_ = AgentConfig{.node_name = "node-1",
                          .node_ip = *model::parseIpv4("192.168.0.2"),
                          .pod_cidr = *model::parseIpv4("10.0.1.0"),
                          .pod_cidr_len = 24,
                          .routing = Routing::Native,
                          .state_dir = dir_ + "/state",
                          .bpffs_dir = "",  // unpinned: maps die with the test
                          .socket = dir_ + "/sock",
                          .manifests = dir_ + "/man",
                          .max_endpoints = 64,
                          .ct_entries = 1024,
                          .ipcache_entries = 1024,
                          .policy_entries = 256};
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<Agent> open(FakeNodeNet** net) {
    auto fake = std::make_unique<FakeNodeNet>();
    *net = fake.get();
    auto a = Agent::open(config_, std::move(fake));
    EXPECT_TRUE(a.ok()) << a.error().message();
    return a.ok() ? std::move(*a) : nullptr;
  }
  static CreateRequest req(const std::string& id, const std::string& pod,
                           std::map<std::string, std::string> labels = {}) {
    return {.container_id = id,
            .ifname = "eth0",
            .netns = "/proc/self/ns/net",
            .pod_namespace = pod.empty() ? "" : "default",
            .pod_name = pod,
            .labels = std::move(labels)};
  }
  std::string dir_;
  AgentConfig config_;
};

TEST_F(AgentTest, CreateUsesThePodObjectAndIsIdempotent) {
  FakeNodeNet* net = nullptr;
  auto a = open(&net);
  ASSERT_TRUE(a && a->start().ok());
  // Not ready before the first reconcile: covered by the daemon test (healthz 503).
  auto web = a->createEndpoint(req("c1", "web"));
  ASSERT_TRUE(web.ok()) << web.error().message();
  EXPECT_TRUE(web->created);
  EXPECT_EQ(web->endpoint.effective_labels.at("app"), "web");
  EXPECT_NE(web->endpoint.identity, 0u);
  EXPECT_NE(web->endpoint.id, 0);
  EXPECT_EQ(net->count("createVeth"), 1u);
  EXPECT_EQ(net->count("attachEndpoint"), 1u);
  // The remote node's pod CIDR is routed via its address.
  EXPECT_EQ(net->routes.at({*model::parseIpv4("10.0.2.0"), 24}), *model::parseIpv4("192.168.0.3"));
  auto again = a->createEndpoint(req("c1", "web"));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(net->count("createVeth"), 1u);
  auto conflict = a->createEndpoint(req("c1", "other"));
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, EEXIST);
  // No Pod object: the request's labels, else the default.
  auto client = a->createEndpoint(req("c2", "", {{"app", "client"}}));
  auto stray = a->createEndpoint(req("c3", ""));
  ASSERT_TRUE(client.ok() && stray.ok());
  EXPECT_EQ(client->endpoint.effective_labels.at("app"), "client");
  EXPECT_EQ(stray->endpoint.effective_labels.at(kUnmanagedLabel), "true");
  EXPECT_NE(client->endpoint.identity, stray->endpoint.identity);
  // The client is selected by web's policy: its identity is in web's map.
  auto pol = a->endpointPolicy("c1", "eth0");
  ASSERT_TRUE(pol.ok());
  bool found = false;
  for (const auto& e : (*pol)["entries"]) found |= e["identity"] == client->endpoint.identity;
  EXPECT_TRUE(found) << pol->dump();
  // Labels the model refuses: 400 naming them, nothing left behind.
  const auto links = net->links.size();
  auto bad_labels = a->createEndpoint(req("c4", "", {{"app", "not a valid value!"}}));
  ASSERT_FALSE(bad_labels.ok());
  EXPECT_EQ(httpStatusOf(bad_labels.error()).first, 400) << bad_labels.error().message();
  EXPECT_NE(bad_labels.error().context.find("labels"), std::string::npos);
  EXPECT_EQ(net->links.size(), links);
  EXPECT_EQ(a->endpoints().size(), 3u);
}

class RollbackTest : public AgentTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(RollbackTest, AFailingStepLeavesNothingBehind) {
  FakeNodeNet* net = nullptr;
  auto a = open(&net);
  ASSERT_TRUE(a && a->start().ok());
  const auto before = a->status();
  net->fail_on = GetParam();
  auto r = a->createEndpoint(req("c1", "web"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().context.find("injected"), std::string::npos) << r.error().message();
  net->fail_on.clear();
  // Nothing left: no link, no address, no endpoint, no map entry.
  for (const auto& [name, idx] : net->links) EXPECT_EQ(name.rfind("lxc", 0), std::string::npos);
  const auto after = a->status();
  EXPECT_EQ(after["ipam"]["allocated"], 0);
  EXPECT_EQ(after["endpoints"], 0);
  EXPECT_EQ(after["maps"]["endpoints"], before["maps"]["endpoints"]);
  EXPECT_EQ(after["maps"]["ipcache"], before["maps"]["ipcache"]);
  // The same request succeeds afterwards; only its address is held.
  auto ok = a->createEndpoint(req("c1", "web"));
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(a->status()["ipam"]["allocated"], 1);
}

INSTANTIATE_TEST_SUITE_P(Steps, RollbackTest,
                         ::testing::Values("createVeth", "configurePod", "replaceRoute",
                                           "replaceNeighbour", "attachEndpoint"));

TEST_F(AgentTest, ReconcileAppliesOnlyDifferences) {
  FakeNodeNet* net = nullptr;
  auto a = open(&net);
  ASSERT_TRUE(a && a->start().ok());
  auto web = a->createEndpoint(req("c1", "web"));
  ASSERT_TRUE(web.ok());
  const auto rev = a->status()["policyRevision"].get<uint64_t>();
  ASSERT_TRUE(a->reconcile(true).ok());
  EXPECT_EQ(a->status()["policyRevision"], rev);  // nothing changed, nothing written
  // A relabel in the watched directory: a new identity for the endpoint, one revision.
  std::string text = kManifests;
  text.replace(text.find("labels: {app: web}"), 18, "labels: {app: api}");
  std::ofstream(config_.manifests + "/m.yaml") << text;
  ASSERT_TRUE(a->reconcile(true).ok());
  EXPECT_EQ(a->status()["policyRevision"], rev + 1);
  auto now = a->endpoint("c1", "eth0");
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->effective_labels.at("app"), "api");
  EXPECT_NE(now->identity, web->endpoint.identity);
  // Broken manifests: an error, the maps keep the last good state (fail closed).
  std::ofstream(config_.manifests + "/m.yaml") << "kind: Pod\nmetadata: {name: [x\n";
  auto bad = a->reconcile(true);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(a->status()["lastError"].get<std::string>().find("m.yaml"), std::string::npos);
  EXPECT_EQ(a->endpoint("c1", "eth0")->identity, now->identity);
}

// Pods of another node with addresses outside its pod CIDR (or a node without one) are
// routed one by one via that node; pods inside its CIDR ride the CIDR's route.
TEST_F(AgentTest, RemotePodsOutsideTheirNodeCidrGetHostRoutes) {
  std::ofstream(config_.manifests + "/remote.yaml") << R"(apiVersion: v1
kind: Pod
metadata: {namespace: default, name: far, labels: {app: far}}
spec: {nodeName: node-2}
status: {podIP: 10.7.0.5}
---
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: near, labels: {app: near}}
spec: {nodeName: node-2}
status: {podIP: 10.0.2.9}
)";
  FakeNodeNet* net = nullptr;
  auto a = open(&net);
  ASSERT_TRUE(a && a->start().ok());
  const uint32_t node2 = *model::parseIpv4("192.168.0.3");
  EXPECT_EQ(net->routes.at({*model::parseIpv4("10.0.2.0"), 24}), node2);
  ASSERT_TRUE(net->routes.count({*model::parseIpv4("10.7.0.5"), 32}));
  EXPECT_EQ(net->routes.at({*model::parseIpv4("10.7.0.5"), 32}), node2);
  EXPECT_FALSE(net->routes.count({*model::parseIpv4("10.0.2.9"), 32}));
  // The pod goes: so does its route.
  std::filesystem::remove(config_.manifests + "/remote.yaml");
  ASSERT_TRUE(a->reconcile(true).ok());
  EXPECT_FALSE(net->routes.count({*model::parseIpv4("10.7.0.5"), 32}));
}

// /status names the manifest set it applied (generation + digest), so that a writer of
// the watched directory can wait for its change; a broken set is not reported as applied.
TEST_F(AgentTest, StatusReportsTheAppliedManifestSet) {
  FakeNodeNet* net = nullptr;
  auto a = open(&net);
  ASSERT_TRUE(a && a->start().ok());
  auto digestOfDir = [&] {
    return manifestDigest(readManifests(config_.manifests), config_.manifests);
  };
  auto ds = [&] { return a->status()["desiredState"]; };
  const auto first = ds();
  EXPECT_EQ(first["generation"], 1);
  EXPECT_EQ(first["applied"], digestOfDir());
  EXPECT_EQ(first["applied"].get<std::string>().size(), 16u);
  // Unchanged content read again: a new generation, the same digest.
  ASSERT_TRUE(a->reconcile(true).ok());
  EXPECT_EQ(ds()["generation"], 2);
  EXPECT_EQ(ds()["applied"], first["applied"]);
  // A reconcile without a reload applies no new set.
  ASSERT_TRUE(a->reconcile(false).ok());
  EXPECT_EQ(ds()["generation"], 2);
  // A changed file: the digest follows the content.
  std::string text = kManifests;
  text.replace(text.find("labels: {app: web}"), 18, "labels: {app: api}");
  std::ofstream(config_.manifests + "/m.yaml") << text;
  ASSERT_TRUE(a->reconcile(true).ok());
  EXPECT_EQ(ds()["generation"], 3);
  EXPECT_NE(ds()["applied"], first["applied"]);
  EXPECT_EQ(ds()["applied"], digestOfDir());
  const auto good = ds()["applied"];
  // Broken manifests are not applied: generation and digest stay at the last good set.
  std::ofstream(config_.manifests + "/m.yaml") << "kind: Pod\nmetadata: {name: [x\n";
  ASSERT_FALSE(a->reconcile(true).ok());
  EXPECT_EQ(ds()["generation"], 3);
  EXPECT_EQ(ds()["applied"], good);
  EXPECT_NE(digestOfDir(), good);
}

TEST_F(AgentTest, RestartReadoptsWithoutRecreating) {
  FakeNodeNet* net = nullptr;
  auto a = open(&net);
  ASSERT_TRUE(a && a->start().ok());
  ASSERT_TRUE(a->createEndpoint(req("c1", "web")).ok());
  ASSERT_TRUE(a->createEndpoint(req("c2", "")).ok());
  auto links = net->links;
  a.reset();  // the daemon stops: nothing is torn down
  FakeNodeNet* net2 = nullptr;
  auto fake = std::make_unique<FakeNodeNet>();
  net2 = fake.get();
  net2->links = links;
  net2->links.erase(hostIfnameFor(*model::parseIpv4("10.0.1.3")));  // c2's pod went away
  auto b = Agent::open(config_, std::move(fake));
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*b)->start().ok());
  EXPECT_EQ(net2->count("createVeth"), 0u);
  EXPECT_EQ(net2->count("attachEndpoint"), 1u);  // c1's programs swapped in place
  auto eps = (*b)->endpoints();
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0].container_id, "c1");
  EXPECT_EQ(eps[0].host_ifindex, links.at(eps[0].host_ifname));
  EXPECT_EQ((*b)->status()["ipam"]["allocated"], 1);  // c2's address was released
}

// Per-endpoint policy audit mode: the endpoints map carries the flag for that endpoint only,
// it is persisted (a restarted agent keeps it) and disabling clears it.
TEST_F(AgentTest, PolicyAuditModeSetsTheEndpointFlagAndSurvivesRestart) {
  FakeNodeNet* net = nullptr;
  auto a = open(&net);
  ASSERT_TRUE(a && a->start().ok());
  auto web = a->createEndpoint(req("c1", "web"));
  auto other = a->createEndpoint(req("c2", ""));
  ASSERT_TRUE(web.ok() && other.ok());
  auto flagsOf = [](Agent& agent, uint32_t ip) -> int {
    dataplane::EndpointWriter reader(agent.datapath().endpoints());
    auto eps = reader.readBack();
    if (!eps.ok() || !eps->count(ip)) return -1;
    return eps->at(ip).flags;
  };
  EXPECT_EQ(flagsOf(*a, web->endpoint.ip), 0);
  auto on = a->configureEndpoint("c1", "eth0", true);
  ASSERT_TRUE(on.ok()) << on.error().message();
  EXPECT_TRUE(on->policy_audit);
  EXPECT_EQ(flagsOf(*a, web->endpoint.ip), MEMBRANE_ENDPOINT_F_POLICY_AUDIT);
  EXPECT_EQ(flagsOf(*a, other->endpoint.ip), 0);
  EXPECT_EQ(a->configureEndpoint("nope", "eth0", true).error().code, ENOENT);
  auto links = net->links;
  a.reset();
  auto fake = std::make_unique<FakeNodeNet>();
  fake->links = links;
  auto b = Agent::open(config_, std::move(fake));
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*b)->start().ok());
  EXPECT_EQ(flagsOf(**b, web->endpoint.ip), MEMBRANE_ENDPOINT_F_POLICY_AUDIT);
  ASSERT_TRUE((*b)->configureEndpoint("c1", "eth0", false).ok());
  EXPECT_EQ(flagsOf(**b, web->endpoint.ip), 0);
}

TEST_F(AgentTest, GcRemovesWhatTheRuntimeNoLongerLists) {
  FakeNodeNet* net = nullptr;
  auto a = open(&net);
  ASSERT_TRUE(a && a->start().ok());
  ASSERT_TRUE(a->createEndpoint(req("c1", "web")).ok());
  ASSERT_TRUE(a->createEndpoint(req("c2", "")).ok());
  auto removed = a->gc({"c1/eth0"});
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, std::vector<std::string>{"c2/eth0"});
  EXPECT_EQ(a->endpoints().size(), 1u);
  auto del = a->deleteEndpoint("c2", "eth0");
  ASSERT_FALSE(del.ok());
  EXPECT_EQ(del.error().code, ENOENT);
}

}  // namespace
}  // namespace membrane::agent

namespace membrane::agent {
namespace {

// Identity numbers survive a restart even when the manifests changed while the agent was
// down in a way that renumbers the model's identities (a new label set sorting first).
TEST_F(AgentTest, IdentityNumbersSurviveRestart) {
  FakeNodeNet* net = nullptr;
  auto a = open(&net);
  ASSERT_TRUE(a && a->start().ok());
  auto web = a->createEndpoint(req("c1", "web"));
  ASSERT_TRUE(web.ok());
  const auto links = net->links;
  a.reset();
  std::ofstream(config_.manifests + "/first.yaml")
      << "apiVersion: v1\nkind: Pod\nmetadata: {namespace: aaa, name: a0, labels: {app: aaa}}\n";
  auto fake = std::make_unique<FakeNodeNet>();
  fake->links = links;
  auto b = Agent::open(config_, std::move(fake));
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*b)->start().ok());
  EXPECT_EQ((*b)->endpoint("c1", "eth0")->identity, web->endpoint.identity);
}

}  // namespace
}  // namespace membrane::agent

namespace membrane::agent {
namespace {

TEST_F(AgentTest, NotReadyExhaustedAndRequestedAddressErrors) {
  config_.pod_cidr_len = 30;  // 4 addresses: network, node, one pod, broadcast
  FakeNodeNet* net = nullptr;
  auto a = open(&net);
  ASSERT_TRUE(a);
  auto early = a->createEndpoint(req("c0", "web"));  // before the first reconcile
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(httpStatusOf(early.error()), std::make_pair(503, std::string("not-ready")));
  ASSERT_TRUE(a->start().ok());
  ASSERT_TRUE(a->createEndpoint(req("c1", "web")).ok());
  auto full = a->createEndpoint(req("c2", ""));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(httpStatusOf(full.error()), std::make_pair(507, std::string("ipam-exhausted")));
  EXPECT_EQ(net->count("createVeth"), 1u);  // nothing was attempted for c2
  CreateRequest taken = req("c3", "");
  taken.ip = *model::parseIpv4("10.0.1.2");
  auto conflict = a->createEndpoint(taken);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(httpStatusOf(conflict.error()).first, 409);
  taken.ip = *model::parseIpv4("10.0.9.9");
  auto outside = a->createEndpoint(taken);
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(httpStatusOf(outside.error()).first, 400);
}

}  // namespace
}  // namespace membrane::agent
