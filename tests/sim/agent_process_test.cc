// SPDX-License-Identifier: Apache-2.0
// The simulator's agent processes: a real membrane-agent started in a node namespace of
// its own (own bpffs mount, run directory), healthy over its socket, its PID registered;
// stop() leaves no process, no mount, no pin, no directory. `--cleanup` removes what a
// run killed with SIGKILL left: its agents (by PID, found by their command line), mounts
// and directory. A missing binary is an error naming the path.
#include "sim/agent_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "agent/client.h"
#include "model/ip.h"
#include "sim/run_registry.h"
#include "tests/support/privileged.h"

namespace membrane::sim {
namespace {

bool alive(pid_t pid) { return kill(pid, 0) == 0; }

bool mountedAt(const std::string& path) {
  std::ifstream in("/proc/self/mounts");
  std::string dev, point, rest;
  while (in >> dev >> point && std::getline(in, rest)) {
    if (point == path) return true;
  }
  return false;
}

TEST(SimAgentProcess, MissingBinaryNamesThePath) {
  auto r = findProductBinary("membrane-agent", "/nonexistent/membrane-agent", "MEMBRANE_AGENT_BIN");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("/nonexistent/membrane-agent"), std::string::npos);
  EXPECT_NE(r.error().message().find("--agent-bin"), std::string::npos);
  ::setenv("MEMBRANE_AGENT_BIN", MEMBRANE_AGENT_BIN, 1);
  auto env = findProductBinary("membrane-agent", "", "MEMBRANE_AGENT_BIN");
  ::unsetenv("MEMBRANE_AGENT_BIN");
  ASSERT_TRUE(env.ok()) << env.error().message();
  EXPECT_EQ(*env, MEMBRANE_AGENT_BIN);
}

TEST(SimAgentProcess, StartsHealthyAndStopLeavesNothing) {
  MEMBRANE_REQUIRE_OR_SKIP(geteuid() == 0, "needs root (namespaces, bpffs, BPF)");
  const std::string ns = runPrefix() + "agent-n1";
  registerNamespace(ns);
  // Removed even when an assertion returns early (the agent is stopped by its destructor).
  struct Drop {
    std::string ns;
    ~Drop() { deleteNamespace(ns); }
  } drop{ns};
  ASSERT_EQ(std::system(("ip netns add " + ns + " && ip -n " + ns + " link set lo up && ip -n " +
                         ns + " link add up0 type veth peer name up1 && ip -n " + ns +
                         " addr add 192.168.77.2/24 dev up0 && ip -n " + ns + " link set up0 up")
                            .c_str()),
            0);
  const std::string dir = runDir() + "/agent-test";
  auto p = AgentProcess::start({.binary = MEMBRANE_AGENT_BIN,
                                .netns = ns,
                                .run_dir = dir,
                                .node_name = "node-1",
                                .node_ip = *model::parseIpv4("192.168.77.2"),
                                .pod_cidr = "10.77.1.0/24",
                                .routing = "overlay"},
                               20000);
  ASSERT_TRUE(p.ok()) << p.error().message();
  const pid_t pid = (*p)->pid();
  EXPECT_TRUE(alive(pid));
  auto st = agent::apiRequest((*p)->socket(), "GET", "/status");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->body["node"], "node-1");
  EXPECT_EQ(st->body["desiredState"]["path"], (*p)->manifestDir());
  EXPECT_TRUE(std::filesystem::exists(dir + "/bpf/membrane"));  // the agent's pins
  EXPECT_TRUE(mountedAt(dir + "/bpf"));
  // The agent runs in the node's namespace: its VXLAN device is there, not here.
  EXPECT_EQ(std::system(("ip -n " + ns + " link show membrane_vxlan >/dev/null 2>&1").c_str()), 0);
  EXPECT_NE(std::system("ip link show membrane_vxlan >/dev/null 2>&1"), 0);
  // The node's flows from the agent's Observer (the agent reads its ring buffer itself).
  auto flows = (*p)->flows();
  ASSERT_TRUE(flows.ok()) << flows.error().message();
  EXPECT_TRUE((*flows)->error().empty()) << (*flows)->error();
  // A step's manifests through the watched directory: applied once /status names them.
  const std::string pod =
      "apiVersion: v1\nkind: Pod\nmetadata: {namespace: default, name: web, labels: {app: web}}\n"
      "spec: {nodeName: node-1}\nstatus: {podIP: 10.77.1.9}\n";
  const std::string policy =
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
      "metadata: {namespace: default, name: web}\nspec: {podSelector: {}, ingress: [{}]}\n";
  auto d1 = (*p)->writeManifests({{"pods.yaml", pod}, {"policy.yaml", policy}});
  ASSERT_TRUE(d1.ok()) << d1.error().message();
  auto w1 = (*p)->waitApplied(*d1, 10000);
  EXPECT_TRUE(w1.ok()) << w1.error().message();
  EXPECT_FALSE(std::filesystem::exists((*p)->manifestDir() + "/.pods.yaml.tmp"));
  // A later step without the policy: the file goes, a new digest is applied.
  auto d2 = (*p)->writeManifests({{"pods.yaml", pod}});
  ASSERT_TRUE(d2.ok());
  EXPECT_NE(*d2, *d1);
  EXPECT_TRUE((*p)->waitApplied(*d2, 10000).ok());
  EXPECT_FALSE(std::filesystem::exists((*p)->manifestDir() + "/policy.yaml"));
  // A manifest the agent refuses is never reported as applied; the error names the file.
  auto bad = (*p)->writeManifests({{"pods.yaml", "kind: Pod\nmetadata: {name: [x\n"}});
  ASSERT_TRUE(bad.ok());
  auto w3 = (*p)->waitApplied(*bad, 1500);
  ASSERT_FALSE(w3.ok());
  EXPECT_NE(w3.error().message().find("pods.yaml"), std::string::npos) << w3.error().message();
  auto s = (*p)->stop();
  EXPECT_TRUE(s.ok()) << s.error().message();
  EXPECT_FALSE(alive(pid));
  EXPECT_FALSE(mountedAt(dir + "/bpf"));
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_FALSE(std::filesystem::exists(runDir()));  // the run's directory went with its last agent
  // --uninstall removed the agent's device from the node.
  EXPECT_NE(std::system(("ip -n " + ns + " link show membrane_vxlan >/dev/null 2>&1").c_str()), 0);
}

TEST(SimAgentProcess, StartFailureUndoesEverything) {
  MEMBRANE_REQUIRE_OR_SKIP(geteuid() == 0, "needs root (bpffs)");
  const std::string dir = runDir() + "/agent-fail";
  // No such namespace: nothing may stay mounted or on disk.
  auto p = AgentProcess::start({.binary = MEMBRANE_AGENT_BIN,
                                .netns = runPrefix() + "does-not-exist",
                                .run_dir = dir,
                                .node_name = "node-1",
                                .node_ip = *model::parseIpv4("192.168.77.2"),
                                .pod_cidr = "10.77.1.0/24",
                                .routing = "overlay"},
                               2000);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message().find("does-not-exist"), std::string::npos);
  EXPECT_FALSE(mountedAt(dir + "/bpf"));
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(SimCleanup, KillsAgentsAndUnmountsOfDeadRuns) {
  MEMBRANE_REQUIRE_OR_SKIP(geteuid() == 0, "needs root (bpffs mounts)");
  // A run directory of a pid that cannot be alive, with a "agent" naming it and a mount.
  const std::string dir = std::string(kRunDirRoot) + "/" + kRunNamePrefix + "4194999-";
  std::filesystem::create_directories(dir + "/n1/bpf");
  ASSERT_EQ(mount("bpf", (dir + "/n1/bpf").c_str(), "bpf", 0, nullptr), 0);
  const std::string arg = "--state-dir=" + dir + "/n1/state";
  const pid_t child = fork();
  if (child == 0) {
    // The loop keeps the shell (whose command line names the directory) the process.
    execl("/bin/sh", "sh", "-c", "while :; do sleep 1; done", arg.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(child, 0);
  // Until exec has replaced the command line, the child is not recognisable yet.
  for (int i = 0; i < 200; ++i) {
    std::ifstream in("/proc/" + std::to_string(child) + "/cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmd.find(dir) != std::string::npos) break;
    usleep(10000);
  }
  auto removed = cleanupStaleRuns();
  int st = 0;
  EXPECT_EQ(waitpid(child, &st, 0), child);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  EXPECT_NE(std::find(removed.begin(), removed.end(), "process " + std::to_string(child)),
            removed.end());
  EXPECT_FALSE(mountedAt(dir + "/n1/bpf"));
  EXPECT_FALSE(std::filesystem::exists(dir));
  if (mountedAt(dir + "/n1/bpf")) umount2((dir + "/n1/bpf").c_str(), MNT_DETACH);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace membrane::sim
