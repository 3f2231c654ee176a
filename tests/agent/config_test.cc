// SPDX-License-Identifier: Apache-2.0
// Configuration: defaults, file + flags (flags win), and precise errors for bad input.
#include "agent/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace membrane::agent {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/membrane-agent-cfg-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path + "/" + name) << text;
    return path + "/" + name;
  }
};

std::string errors(const model::Diagnostics& d) {
  std::string s;
  for (const auto& e : d.errors()) s += e.str() + "\n";
  return s;
}

TEST(AgentConfig, DefaultsAndFileAndFlags) {
  TempDir t;
  const std::string file =
      t.write("agent.yaml",
              "nodeName: node-1\nnodeIP: 192.168.0.2\n"
              "podCIDR: 10.0.1.0/24\nrouting: native\n"
              "manifests: " +
                  t.path +
                  "\n"
                  "nodes:\n- {name: node-2, ip: 192.168.0.3, podCIDR: 10.0.2.0/24}\n");
  model::Diagnostics d;
  AgentConfig c = loadConfig(file, {{"--routing", "overlay"}, {"--mtu", "1400"}}, d);
  ASSERT_TRUE(d.ok()) << errors(d);
  EXPECT_EQ(c.node_name, "node-1");
  EXPECT_EQ(c.routing, Routing::Overlay);  // the flag wins
  EXPECT_EQ(c.mtu, 1400u);
  EXPECT_EQ(cidrStr(c.pod_cidr, c.pod_cidr_len), "10.0.1.0/24");
  EXPECT_EQ(c.state_dir, "/var/lib/membrane");
  EXPECT_EQ(c.bpffs_dir, "/sys/fs/bpf/membrane");
  EXPECT_EQ(c.socket, "/var/run/membrane/membrane.sock");
  ASSERT_EQ(c.nodes.size(), 1u);
  EXPECT_EQ(c.nodes[0].name, "node-2");
  EXPECT_EQ(c.nodes[0].cidr_len, 24);
}

// The Observer's TCP listener: loopback or the node's own address, nothing else (it is
// plaintext gRPC without authentication).
TEST(AgentConfig, ObserverListenIsLoopbackOrTheNodeIp) {
  TempDir t;
  auto load = [&](const std::string& listen, model::Diagnostics& d) {
    return loadConfig("",
                      {{"--node-name", "n1"},
                       {"--node-ip", "192.168.0.2"},
                       {"--pod-cidr", "10.0.1.0/24"},
                       {"--manifests", t.path},
                       {"--observer-listen", listen}},
                      d);
  };
  for (const std::string ok : {"127.0.0.1:4245", "localhost:4245", "192.168.0.2:4244"}) {
    model::Diagnostics d;
    EXPECT_EQ(load(ok, d).observer_listen, ok);
    EXPECT_TRUE(d.ok()) << ok << ": " << errors(d);
  }
  model::Diagnostics other;
  load("192.168.0.3:4244", other);
  EXPECT_NE(errors(other).find("observerListen: \"192.168.0.3:4244\": expected a loopback "
                               "address or the node's IP (nodeIP 192.168.0.2) with a port"),
            std::string::npos)
      << errors(other);
  model::Diagnostics wildcard;
  load("0.0.0.0:4244", wildcard);
  EXPECT_FALSE(wildcard.ok());
  model::Diagnostics noport;
  load("192.168.0.2", noport);
  EXPECT_FALSE(noport.ok());
}

TEST(AgentConfig, BadValueNamesFileLineColumnAndField) {
  TempDir t;
  const std::string file = t.write("agent.yaml",
                                   "nodeName: node-1\nnodeIP: 192.168.0.2\n"
                                   "podCIDR: 10.0.1.7/24\nrouting: vxlan\n"
                                   "manifests: " +
                                       t.path + "\nfoo: 1\n");
  model::Diagnostics d;
  loadConfig(file, {}, d);
  const std::string e = errors(d);
  EXPECT_NE(e.find(file + ":3:10: podCIDR: \"10.0.1.7/24\": expected an IPv4 prefix"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(file + ":4:10: routing: \"vxlan\": expected overlay or native"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(file + ":6:1: foo: unknown setting"), std::string::npos) << e;
}

TEST(AgentConfig, MissingRequiredAndBadFlags) {
  model::Diagnostics d;
  loadConfig("", {{"--node-ip", "300.1.1.1"}, {"--bogus", "x"}}, d);
  const std::string e = errors(d);
  EXPECT_NE(e.find("--node-ip: \"300.1.1.1\": expected an IPv4 address"), std::string::npos) << e;
  EXPECT_NE(e.find("--bogus: unknown flag"), std::string::npos) << e;
  EXPECT_NE(e.find("nodeName: required setting missing"), std::string::npos) << e;
  EXPECT_NE(e.find("podCIDR: required setting missing"), std::string::npos) << e;
  EXPECT_NE(e.find("manifests: required setting missing"), std::string::npos) << e;
}

TEST(AgentConfig, ManifestsMustExistAndYamlMustParse) {
  TempDir t;
  model::Diagnostics d;
  loadConfig("",
             {{"--node-name", "n"},
              {"--node-ip", "10.0.0.1"},
              {"--pod-cidr", "10.1.0.0/24"},
              {"--manifests", t.path + "/nope"}},
             d);
  EXPECT_NE(errors(d).find("expected an existing directory"), std::string::npos) << errors(d);
  model::Diagnostics d2;
  const std::string file = t.write("bad.yaml", "nodeName: [unclosed\n");
  loadConfig(file, {}, d2);
  ASSERT_FALSE(d2.ok());
  EXPECT_NE(errors(d2).find(file + ":"), std::string::npos) << errors(d2);
}

}  // namespace
}  // namespace membrane::agent
