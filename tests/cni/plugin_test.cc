// SPDX-License-Identifier: Apache-2.0
// The plugin against the in-memory fake agent: every command, the agent's error replies
// mapped to CNI codes, the DEL spool, chained prevResult; in process through run() and as
// the membrane-cni binary a runtime executes (environment + stdin).
#include "cni/plugin.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "cni/del_queue.h"
#include "tests/cni/fake_agent.h"

namespace membrane::cni {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::FakeAgent;

struct Outcome {
  int rc = -1;
  std::string stdoutText;
  std::string log;
  json out;  // stdout parsed; null when empty
};

class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/membrane-cni-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/agent.sock";
    queueDir_ = dir_ + "/del-queue";
  }
  void TearDown() override {
    agent_.reset();
    fs::remove_all(dir_);
  }
  void startAgent() { agent_ = std::make_unique<FakeAgent>(socket_); }

  std::string conf(const std::string& version = "1.0.0", const json& extra = json::object()) {
    json c = {{"cniVersion", version},  {"name", "membrane"},       {"type", "membrane-cni"},
              {"agentSocket", socket_}, {"delQueueDir", queueDir_}, {"agentTimeoutSeconds", 5}};
    c.update(extra);
    return c.dump();
  }
  std::map<std::string, std::string> env(const std::string& cmd, const std::string& id = "c1") {
    return {{"CNI_COMMAND", cmd},         {"CNI_CONTAINERID", id},
            {"CNI_IFNAME", "eth0"},       {"CNI_NETNS", "/proc/self/ns/net"},
            {"CNI_PATH", "/usr/lib/cni"}, {"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=web-0"}};
  }

  Outcome invoke(const std::map<std::string, std::string>& e, const std::string& stdinText) {
    std::ostringstream out, log;
    Outcome o;
    o.rc = run(
        [&e](const char* name) -> const char* {
          auto it = e.find(name);
          return it == e.end() ? nullptr : it->second.c_str();
        },
        stdinText, out, log);
    o.stdoutText = out.str();
    o.log = log.str();
    // The contract with the runtime: stdout holds one JSON document or nothing.
    if (!o.stdoutText.empty()) o.out = json::parse(o.stdoutText);
    return o;
  }
  int code(const Outcome& o) { return o.out.is_object() ? o.out.value("code", 0) : 0; }
  size_t queued() { return DelQueue(queueDir_).list().size(); }

  std::string dir_, socket_, queueDir_;
  std::unique_ptr<FakeAgent> agent_;
};

TEST_F(PluginTest, AddResultPerVersion) {
  startAgent();
  int n = 0;
  for (const char* v : {"0.4.0", "1.0.0", "1.1.0"}) {
    Outcome o = invoke(env("ADD", "c" + std::to_string(n++)), conf(v));
    ASSERT_EQ(o.rc, 0) << o.stdoutText << o.log;
    EXPECT_EQ(o.out["cniVersion"], v);
    ASSERT_EQ(o.out["interfaces"].size(), 2u);
    EXPECT_EQ(o.out["interfaces"][0]["name"], "lxc0a000107");
    EXPECT_EQ(o.out["interfaces"][1]["name"], "eth0");
    EXPECT_EQ(o.out["interfaces"][1]["sandbox"], "/proc/self/ns/net");
    EXPECT_EQ(o.out["ips"][0]["interface"], 1);
    EXPECT_EQ(o.out["ips"][0]["gateway"], "169.254.1.1");
    EXPECT_EQ(o.out["ips"][0].contains("version"), std::string(v) == "0.4.0");
    EXPECT_EQ(o.out["interfaces"][1].contains("mtu"), std::string(v) == "1.1.0");
    EXPECT_EQ(o.out["routes"][0]["dst"], "0.0.0.0/0");
  }
  EXPECT_EQ(agent_->endpointCount(), 3u);
}

TEST_F(PluginTest, AddPassesPodLabelsAndRequestedIp) {
  startAgent();
  auto e = env("ADD");
  e["CNI_ARGS"] = "K8S_POD_NAMESPACE=prod;K8S_POD_NAME=api-1;IP=10.0.1.50";
  Outcome o = invoke(e, conf("1.0.0", {{"args", {{"cni", {{"labels", {{"app", "api"}}}}}}}}));
  ASSERT_EQ(o.rc, 0) << o.stdoutText;
  EXPECT_EQ(o.out["ips"][0]["address"], "10.0.1.50/32");
  json ep = agent_->endpoint("c1", "eth0");
  EXPECT_EQ(ep["podNamespace"], "prod");
  EXPECT_EQ(ep["podName"], "api-1");
  EXPECT_EQ(ep["labels"], (json{{"app", "api"}}));
}

TEST_F(PluginTest, AddTakesTheRuntimeConfigIp) {
  startAgent();
  Outcome o = invoke(env("ADD"), conf("1.0.0", {{"runtimeConfig", {{"ips", {"10.0.1.77/24"}}}}}));
  ASSERT_EQ(o.rc, 0) << o.stdoutText;
  EXPECT_EQ(o.out["ips"][0]["address"], "10.0.1.77/32");
}

TEST_F(PluginTest, AddTwiceIsIdempotent) {
  startAgent();
  Outcome a = invoke(env("ADD"), conf());
  Outcome b = invoke(env("ADD"), conf());
  ASSERT_EQ(b.rc, 0);
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(agent_->endpointCount(), 1u);
}

TEST_F(PluginTest, ChainedAddKeepsPrevResult) {
  startAgent();
  json prev = {{"cniVersion", "1.0.0"},
               {"interfaces", {{{"name", "net1"}, {"sandbox", "/proc/self/ns/net"}}}},
               {"ips", {{{"address", "192.168.5.2/24"}, {"interface", 0}}}},
               {"dns", {{"nameservers", {"10.96.0.10"}}}}};
  Outcome o = invoke(env("ADD"), conf("1.0.0", {{"prevResult", prev}}));
  ASSERT_EQ(o.rc, 0) << o.stdoutText;
  ASSERT_EQ(o.out["interfaces"].size(), 3u);
  EXPECT_EQ(o.out["interfaces"][0]["name"], "net1");
  ASSERT_EQ(o.out["ips"].size(), 2u);
  EXPECT_EQ(o.out["ips"][0]["address"], "192.168.5.2/24");
  EXPECT_EQ(o.out["ips"][1]["interface"], 2);
  EXPECT_EQ(o.out["dns"]["nameservers"][0], "10.96.0.10");
  // A prevResult that does not decode is error 6, before anything is created.
  Outcome bad = invoke(env("ADD", "c2"), conf("1.0.0", {{"prevResult", {{"ips", 5}}}}));
  EXPECT_EQ(code(bad), 6);
  EXPECT_FALSE(agent_->hasEndpoint("c2", "eth0"));
}

TEST_F(PluginTest, AgentDownAddIsTryAgainAndDelIsQueued) {
  Outcome add = invoke(env("ADD"), conf());
  EXPECT_EQ(add.rc, 1);
  EXPECT_EQ(code(add), 11);
  EXPECT_EQ(queued(), 0u);  // ADD leaves nothing behind
  Outcome del = invoke(env("DEL"), conf());
  EXPECT_EQ(del.rc, 0) << del.stdoutText;
  EXPECT_TRUE(del.stdoutText.empty());
  ASSERT_EQ(queued(), 1u);
  std::ifstream f(queueDir_ + "/c1:eth0.json");
  json entry = json::parse(f);
  EXPECT_EQ(entry["version"], 1);
  EXPECT_EQ(entry["containerId"], "c1");
  EXPECT_EQ(entry["ifname"], "eth0");
  EXPECT_EQ(entry["network"], "membrane");
  // DEL again while down: still one entry.
  EXPECT_EQ(invoke(env("DEL"), conf()).rc, 0);
  EXPECT_EQ(queued(), 1u);
}

TEST_F(PluginTest, QueuedDelIsReplayedBeforeTheNextAdd) {
  startAgent();
  ASSERT_EQ(invoke(env("ADD", "old"), conf()).rc, 0);
  agent_.reset();  // the agent goes down
  ASSERT_EQ(invoke(env("DEL", "old"), conf()).rc, 0);
  ASSERT_EQ(queued(), 1u);
  startAgent();  // back, with the old endpoint (a fresh fake has none: re-add it first)
  agent_->setReady(true);
  ASSERT_EQ(invoke(env("ADD", "old"), conf()).rc, 0);  // runtime restart: same id again
  std::vector<std::string> log = agent_->requestLog();
  ASSERT_GE(log.size(), 2u);
  EXPECT_EQ(log[0], "DELETE /v1/endpoints/old");
  EXPECT_EQ(log[1], "PUT /v1/endpoints/old");
  EXPECT_EQ(queued(), 0u);
  EXPECT_TRUE(agent_->hasEndpoint("old", "eth0"));
}

TEST_F(PluginTest, DelIsIdempotentAndQueuesWhenNotReady) {
  startAgent();
  ASSERT_EQ(invoke(env("ADD"), conf()).rc, 0);
  EXPECT_EQ(invoke(env("DEL"), conf()).rc, 0);
  EXPECT_FALSE(agent_->hasEndpoint("c1", "eth0"));
  EXPECT_EQ(invoke(env("DEL"), conf()).rc, 0);  // 404: already gone is success
  EXPECT_EQ(queued(), 0u);
  agent_->setReady(false);
  EXPECT_EQ(invoke(env("DEL", "c9"), conf()).rc, 0);
  EXPECT_EQ(queued(), 1u);
  agent_->setReady(true);
  // STATUS is a successful contact: it drains the queue.
  EXPECT_EQ(invoke(env("STATUS"), conf("1.1.0")).rc, 0);
  EXPECT_EQ(queued(), 0u);
}

TEST_F(PluginTest, AgentErrorsMapToCniCodes) {
  startAgent();
  agent_->setReady(false);
  EXPECT_EQ(code(invoke(env("ADD"), conf())), 11);
  agent_->setReady(true);
  agent_->failNextPut(507, "ipam-exhausted");
  EXPECT_EQ(code(invoke(env("ADD"), conf())), 11);
  agent_->failNextPut(409, "conflict");
  EXPECT_EQ(code(invoke(env("ADD"), conf())), 4);
  agent_->failNextPut(500, "internal");
  EXPECT_EQ(code(invoke(env("ADD"), conf())), 999);
  agent_->failNextPut(400, "invalid");
  EXPECT_EQ(code(invoke(env("ADD"), conf())), 4);
  EXPECT_EQ(agent_->endpointCount(), 0u);
}

TEST_F(PluginTest, AddThatCannotReturnAResultLeavesNothing) {
  startAgent();
  agent_->setMalformedPut(true);
  Outcome o = invoke(env("ADD"), conf());
  EXPECT_EQ(code(o), 61);
  EXPECT_FALSE(agent_->hasEndpoint("c1", "eth0"));  // the plugin deleted what it got
  EXPECT_EQ(queued(), 0u);
}

TEST_F(PluginTest, AddTimeoutQueuesItsUndo) {
  startAgent();
  agent_->setPutDelayMs(2500);
  Outcome o = invoke(env("ADD"), conf("1.0.0", {{"agentTimeoutSeconds", 1}}));
  EXPECT_EQ(code(o), 11);
  // The agent finished the endpoint after the plugin gave up; the undo DEL reached it or is
  // queued, so nothing outlives the failed ADD once the queue is drained.
  agent_->setPutDelayMs(0);
  ASSERT_EQ(invoke(env("STATUS"), conf("1.1.0")).rc, 0);
  EXPECT_EQ(queued(), 0u);
  EXPECT_FALSE(agent_->hasEndpoint("c1", "eth0"));
}

TEST_F(PluginTest, MissingOrBogusNetnsNeverReachesTheAgent) {
  startAgent();
  auto e = env("ADD");
  e.erase("CNI_NETNS");
  Outcome o = invoke(e, conf());
  EXPECT_EQ(code(o), 4);
  e["CNI_NETNS"] = dir_ + "/no-such-netns";
  o = invoke(e, conf());
  EXPECT_EQ(code(o), 4);
  EXPECT_NE(o.out["details"].get<std::string>().find("no-such-netns"), std::string::npos);
  EXPECT_TRUE(agent_->requestLog().empty());
}

TEST_F(PluginTest, Check) {
  startAgent();
  Outcome add = invoke(env("ADD"), conf());
  ASSERT_EQ(add.rc, 0);
  json prev = add.out;
  EXPECT_EQ(invoke(env("CHECK"), conf("1.0.0", {{"prevResult", prev}})).rc, 0);
  EXPECT_EQ(code(invoke(env("CHECK"), conf())), 7);  // no prevResult
  json other = prev;
  other["ips"][0]["address"] = "10.0.1.99/32";
  EXPECT_EQ(code(invoke(env("CHECK"), conf("1.0.0", {{"prevResult", other}}))), 60);
  agent_->setCheckFails(true);
  Outcome failed = invoke(env("CHECK"), conf("1.0.0", {{"prevResult", prev}}));
  EXPECT_EQ(code(failed), 60);
  EXPECT_NE(failed.out["details"].get<std::string>().find("not attached"), std::string::npos);
  EXPECT_EQ(code(invoke(env("CHECK", "unknown"), conf("1.0.0", {{"prevResult", prev}}))), 3);
  EXPECT_EQ(invoke(env("CHECK"), conf("1.0.0", {{"disableCheck", true}})).rc, 0);
}

TEST_F(PluginTest, StatusAndGcNeed110) {
  startAgent();
  Outcome s = invoke(env("STATUS"), conf("1.0.0"));
  EXPECT_EQ(code(s), 1);
  EXPECT_EQ(code(invoke(env("GC"), conf("1.0.0"))), 1);
  EXPECT_EQ(invoke(env("STATUS"), conf("1.1.0")).rc, 0);
  agent_.reset();
  EXPECT_EQ(code(invoke(env("STATUS"), conf("1.1.0"))), 50);
}

TEST_F(PluginTest, GcReleasesWhatTheRuntimeNoLongerLists) {
  startAgent();
  for (const char* id : {"a", "b", "c"}) ASSERT_EQ(invoke(env("ADD", id), conf()).rc, 0);
  json keep = {{{"containerID", "b"}, {"ifname", "eth0"}}};
  Outcome o = invoke(env("GC"), conf("1.1.0", {{"cni.dev/valid-attachments", keep}}));
  ASSERT_EQ(o.rc, 0) << o.stdoutText;
  EXPECT_EQ(agent_->endpointCount(), 1u);
  EXPECT_TRUE(agent_->hasEndpoint("b", "eth0"));
  EXPECT_EQ(code(invoke(env("GC"), conf("1.1.0"))), 7);
  EXPECT_EQ(invoke(env("GC"), conf("1.1.0", {{"disableGC", true}})).rc, 0);
}

TEST_F(PluginTest, VersionAnswersWithoutConfigOrAgent) {
  Outcome o = invoke({{"CNI_COMMAND", "VERSION"}}, R"({"cniVersion": "0.4.0"})");
  ASSERT_EQ(o.rc, 0);
  EXPECT_EQ(o.out["cniVersion"], "0.4.0");
  EXPECT_EQ(o.out["supportedVersions"], (json{"0.4.0", "1.0.0", "1.1.0"}));
  EXPECT_EQ(invoke({{"CNI_COMMAND", "VERSION"}}, "").out["cniVersion"], "1.1.0");
}

TEST_F(PluginTest, LogFileTakesTheLogs) {
  startAgent();
  Outcome o = invoke(env("ADD"), conf("1.0.0", {{"logFile", dir_ + "/cni.log"}}));
  ASSERT_EQ(o.rc, 0);
  EXPECT_TRUE(o.log.empty());
  std::ifstream f(dir_ + "/cni.log");
  std::stringstream all;
  all << f.rdbuf();
  EXPECT_NE(all.str().find("ADD c1/eth0 -> 10.0.1."), std::string::npos) << all.str();
}

// ---- the binary, as a runtime runs it

Outcome runBinary(const std::map<std::string, std::string>& env, const std::string& stdinText,
                  const std::string& arg = "") {
  int in[2], out[2];
  EXPECT_EQ(pipe(in), 0);
  EXPECT_EQ(pipe(out), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    close(in[1]);
    close(out[0]);
    std::vector<std::string> kv;
    for (const auto& [k, v] : env) kv.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (std::string& s : kv) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string bin = MEMBRANE_CNI_BINARY;
    char* argv[] = {bin.data(), arg.empty() ? nullptr : const_cast<char*>(arg.c_str()), nullptr};
    execve(bin.c_str(), argv, envp.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  EXPECT_EQ(write(in[1], stdinText.data(), stdinText.size()),
            static_cast<ssize_t>(stdinText.size()));
  close(in[1]);
  Outcome o;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) o.stdoutText.append(buf, n);
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  o.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (arg.empty() && !o.stdoutText.empty()) o.out = json::parse(o.stdoutText);
  return o;
}

TEST_F(PluginTest, BinaryAddDelAsARuntimeCallsIt) {
  startAgent();
  Outcome add = runBinary(env("ADD"), conf("1.0.0"));
  ASSERT_EQ(add.rc, 0) << add.stdoutText;
  EXPECT_EQ(add.out["cniVersion"], "1.0.0");
  EXPECT_TRUE(agent_->hasEndpoint("c1", "eth0"));
  auto chk = env("CHECK");
  EXPECT_EQ(runBinary(chk, conf("1.0.0", {{"prevResult", add.out}})).rc, 0);
  Outcome del = runBinary(env("DEL"), conf("1.0.0", {{"prevResult", add.out}}));
  EXPECT_EQ(del.rc, 0);
  EXPECT_TRUE(del.stdoutText.empty());
  EXPECT_FALSE(agent_->hasEndpoint("c1", "eth0"));
}

TEST_F(PluginTest, BinaryErrorsAreJsonOnStdoutWithExit1) {
  Outcome o = runBinary(env("ADD"), "{\"cniVersion\": \"1.0.0\",\n \"name\": }");
  EXPECT_EQ(o.rc, 1);
  EXPECT_EQ(o.out["code"], 6);
  EXPECT_NE(o.out["details"].get<std::string>().find("<stdin>:2:10"), std::string::npos)
      << o.out.dump();
  o = runBinary(env("ADD"), conf("0.3.1"));
  EXPECT_EQ(o.out["code"], 1);
  o = runBinary(env("ADD"), conf());  // no agent
  EXPECT_EQ(o.out["code"], 11);
  o = runBinary(env("DEL"), conf());  // no agent: success, queued
  EXPECT_EQ(o.rc, 0);
  EXPECT_EQ(queued(), 1u);
  o = runBinary({}, "", "--help");
  EXPECT_EQ(o.rc, 0);
  EXPECT_NE(o.stdoutText.find("Exit codes:"), std::string::npos);
  EXPECT_EQ(runBinary({}, "", "--bogus").rc, 2);
}

}  // namespace
}  // namespace membrane::cni
