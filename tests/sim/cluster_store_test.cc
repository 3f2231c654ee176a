// SPDX-License-Identifier: Apache-2.0
// The cluster store of a netns run (sim/cluster_store.h): a real etcd started inside a
// namespace of the run, fed through the real `membrane apply` / `membrane delete`; a later
// step without an object deletes it; an invalid step is refused with the CLI's
// file:line:column and writes nothing; stop() leaves no process and no directory. And the
// agent side: an agent started with the store's endpoint reports the revision a sync
// printed (AgentProcess::waitRevision).
#include "sim/cluster_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/client.h"
#include "model/ip.h"
#include "sim/agent_process.h"
#include "sim/run_registry.h"
#include "tests/support/privileged.h"

namespace membrane::sim {
namespace {

bool alive(pid_t pid) { return kill(pid, 0) == 0; }

// `membrane get KIND -A` run in `ns` against `endpoint`: its output.
std::string getAll(const std::string& ns, const std::string& endpoint, const std::string& kind) {
  const std::string cmd = "nsenter --net=/run/netns/" + ns + " " + MEMBRANE_CLI_BIN + " get " +
                          kind + " -A --etcd-endpoints " + endpoint + " 2>&1";
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char buf[512];
    while (fgets(buf, sizeof buf, f)) out += buf;
    pclose(f);
  }
  return out;
}

const char* kPolicy = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: shop, name: web}
spec: {podSelector: {}, ingress: [{}]}
)";
const char* kNamespace = R"(apiVersion: v1
kind: Namespace
metadata: {name: shop}
)";

TEST(SimClusterStore, ParsesTheRevisionApplyPrints) {
  EXPECT_EQ(printedRevision("NetworkPolicy/shop/web applied\nrevision 42\n"), 42);
  EXPECT_EQ(printedRevision("revision 7\nrevision 9\n"), 9);
  EXPECT_FALSE(printedRevision("revision x\n").has_value());
  EXPECT_FALSE(printedRevision("error: conflict\n").has_value());
}

TEST(SimClusterStore, AppliesDeletesAndStopLeavesNothing) {
  MEMBRANE_REQUIRE_OR_SKIP(geteuid() == 0, "needs root (namespaces)");
  auto etcd = findEtcdBinary();
  MEMBRANE_REQUIRE_OR_SKIP(etcd.ok(), "etcd (Debian etcd-server) is not installed");
  const std::string ns = runPrefix() + "store-u";
  registerNamespace(ns);
  struct Drop {
    std::string ns;
    ~Drop() { deleteNamespace(ns); }
  } drop{ns};
  ASSERT_EQ(std::system(("ip netns add " + ns + " && ip -n " + ns + " link set lo up && ip -n " +
                         ns + " link add br0 type bridge && ip -n " + ns + " link set br0 up")
                            .c_str()),
            0);
  ASSERT_EQ(std::system(("ip -n " + ns + " addr add 100.126.0.1/32 dev br0").c_str()), 0);
  const std::string dir = runDir() + "/store-test";
  auto s = ClusterStore::start({.etcd_binary = *etcd,
                                .membrane_binary = MEMBRANE_CLI_BIN,
                                .netns = ns,
                                .dir = dir,
                                .ip = *model::parseIpv4("100.126.0.1")},
                               30000);
  ASSERT_TRUE(s.ok()) << s.error().message();
  const pid_t pid = (*s)->pid();
  EXPECT_TRUE(alive(pid));
  EXPECT_EQ((*s)->endpoint(), "http://100.126.0.1:2379");
  // Nothing outside the namespace reaches it: this namespace has no such address.
  EXPECT_NE(std::system(("ip -4 addr show | grep -q 100.126.0.1/")), 0);

  auto r1 = (*s)->sync({{"objects.yaml", std::string(kNamespace) + "---\n" + kPolicy}}, 0);
  ASSERT_TRUE(r1.ok()) << r1.error().message();
  const std::string nps = getAll(ns, (*s)->endpoint(), "netpol");
  EXPECT_NE(nps.find("NetworkPolicy/shop/web"), std::string::npos) << nps;
  // The next step has no policy: it is deleted, the revision moves on.
  auto r2 = (*s)->sync({{"objects.yaml", kNamespace}}, 1);
  ASSERT_TRUE(r2.ok()) << r2.error().message();
  EXPECT_GT(*r2, *r1);
  EXPECT_EQ(getAll(ns, (*s)->endpoint(), "netpol").find("NetworkPolicy/shop/web"),
            std::string::npos);
  EXPECT_NE(getAll(ns, (*s)->endpoint(), "ns").find("Namespace/shop"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir + "/step-1/delete.yaml"));
  // An invalid step: apply refuses it (the loader's file:line:column), nothing is written.
  auto bad = (*s)->sync({{"objects.yaml", std::string(kNamespace) + "---\n" + kPolicy +
                                              "---\nkind: NetworkPolicy\nmetadata: {name: x, "
                                              "namespace: shop}\nspec: {podSelector: 3}\n"}},
                        2);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("objects.yaml:"), std::string::npos)
      << bad.error().message();
  EXPECT_NE(bad.error().message().find("exited 2"), std::string::npos) << bad.error().message();
  EXPECT_EQ(getAll(ns, (*s)->endpoint(), "netpol").find("NetworkPolicy/shop/"), std::string::npos);

  ASSERT_TRUE((*s)->stop().ok());
  EXPECT_FALSE(alive(pid));
  EXPECT_FALSE(std::filesystem::exists(dir));
  std::filesystem::remove(runDir());
}

TEST(SimClusterStore, AgentReportsTheRevisionOfASync) {
  MEMBRANE_REQUIRE_OR_SKIP(geteuid() == 0, "needs root (namespaces, bpffs, BPF)");
  auto etcd = findEtcdBinary();
  MEMBRANE_REQUIRE_OR_SKIP(etcd.ok(), "etcd (Debian etcd-server) is not installed");
  // etcd and one agent in one namespace (the agent reaches etcd on its own address).
  const std::string ns = runPrefix() + "store-n1";
  registerNamespace(ns);
  struct Drop {
    std::string ns;
    ~Drop() { deleteNamespace(ns); }
  } drop{ns};
  ASSERT_EQ(std::system(("ip netns add " + ns + " && ip -n " + ns + " link set lo up && ip -n " +
                         ns + " link add up0 type veth peer name up1 && ip -n " + ns +
                         " addr add 192.168.78.2/24 dev up0 && ip -n " + ns + " link set up0 up")
                            .c_str()),
            0);
  auto s = ClusterStore::start({.etcd_binary = *etcd,
                                .membrane_binary = MEMBRANE_CLI_BIN,
                                .netns = ns,
                                .dir = runDir() + "/store-etcd",
                                .ip = *model::parseIpv4("192.168.78.2")},
                               30000);
  ASSERT_TRUE(s.ok()) << s.error().message();
  auto p = AgentProcess::start({.binary = MEMBRANE_AGENT_BIN,
                                .netns = ns,
                                .run_dir = runDir() + "/store-agent",
                                .node_name = "node-1",
                                .node_ip = *model::parseIpv4("192.168.78.2"),
                                .pod_cidr = "10.78.1.0/24",
                                .routing = "overlay",
                                .etcd_endpoint = (*s)->endpoint()},
                               20000);
  ASSERT_TRUE(p.ok()) << p.error().message();
  auto st = agent::apiRequest((*p)->socket(), "GET", "/status");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->body["desiredState"]["source"], "etcd");
  auto rev = (*s)->sync({{"objects.yaml", std::string(kNamespace) + "---\n" + kPolicy}}, 0);
  ASSERT_TRUE(rev.ok()) << rev.error().message();
  auto w = (*p)->waitRevision(*rev, 20000);
  EXPECT_TRUE(w.ok()) << w.error().message();
  // A revision nobody wrote is never reported applied.
  auto never = (*p)->waitRevision(*rev + 1000, 500);
  ASSERT_FALSE(never.ok());
  EXPECT_NE(never.error().message().find("store revision"), std::string::npos);
  EXPECT_TRUE((*p)->stop().ok());
  EXPECT_TRUE((*s)->stop().ok());
  std::filesystem::remove(runDir());
}

}  // namespace
}  // namespace membrane::sim
