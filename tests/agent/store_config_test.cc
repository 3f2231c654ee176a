// SPDX-License-Identifier: Apache-2.0
// The kvstore section (desiredState: etcd): defaults, the section and its flags, and precise
// errors for every bad combination, reported before anything is touched.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/config.h"
#include "agent/store_source.h"

namespace membrane::agent {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/membrane-agent-kvcfg-XXXXXX";
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

const ConfigFlags kNode = {
    {"--node-name", "node-1"}, {"--node-ip", "192.168.0.2"}, {"--pod-cidr", "10.0.1.0/24"}};

ConfigFlags with(ConfigFlags f, const ConfigFlags& more) {
  for (const auto& [k, v] : more) f[k] = v;
  return f;
}

TEST(AgentStoreConfig, DirectoryStaysTheDefault) {
  TempDir t;
  model::Diagnostics d;
  AgentConfig c = loadConfig("", with(kNode, {{"--manifests", t.path}}), d);
  ASSERT_TRUE(d.ok()) << errors(d);
  EXPECT_EQ(c.source, DesiredSource::Directory);
  EXPECT_EQ(c.kvstore.endpoints, std::vector<std::string>{"http://127.0.0.1:2379"});
  EXPECT_EQ(c.kvstore.prefix, "membrane/");
  EXPECT_EQ(c.kvstore.lease_ttl, 15u);
  EXPECT_EQ(c.kvstore.timeout_ms, 5000u);
  EXPECT_EQ(c.kvstore.identity_gc_grace, 300u);
}

TEST(AgentStoreConfig, SectionAndFlagsFlagsWin) {
  TempDir t;
  const std::string file = t.write("agent.yaml",
                                   "desiredState: etcd\n"
                                   "kvstore:\n"
                                   "  endpoints: [http://10.0.0.1:2379, http://10.0.0.2:2379]\n"
                                   "  prefix: prod/\n"
                                   "  leaseTTL: 30\n"
                                   "  identityGCGrace: 60\n");
  model::Diagnostics d;
  AgentConfig c = loadConfig(file, with(kNode, {{"--etcd-lease-ttl", "5"}}), d);
  EXPECT_EQ(c.kvstore.identity_gc_grace, 60u);
  ASSERT_TRUE(d.ok()) << errors(d);
  EXPECT_EQ(c.source, DesiredSource::Etcd);
  EXPECT_EQ(c.kvstore.endpoints,
            (std::vector<std::string>{"http://10.0.0.1:2379", "http://10.0.0.2:2379"}));
  EXPECT_EQ(c.kvstore.prefix, "prod/");
  EXPECT_EQ(c.kvstore.lease_ttl, 5u);
  EXPECT_TRUE(c.manifests.empty());  // not required with etcd
}

TEST(AgentStoreConfig, BadSectionValueNamesFileLineColumnAndField) {
  TempDir t;
  const std::string file = t.write("agent.yaml",
                                   "desiredState: etcd\n"
                                   "kvstore:\n"
                                   "  endpoints: [localhost]\n"
                                   "  leaseTTL: 1\n"
                                   "  colour: blue\n"
                                   "  identityGCGrace: 0\n");
  model::Diagnostics d;
  loadConfig(file, kNode, d);
  const std::string e = errors(d);
  EXPECT_NE(e.find(file + ":3:14: kvstore.endpoints: \"localhost\": expected comma-separated URLs"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(file + ":4:13: kvstore.leaseTTL: \"1\": expected an integer 2-3600"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(file + ":5:3: kvstore.colour: unknown setting"), std::string::npos) << e;
  EXPECT_NE(e.find(file + ":6:20: kvstore.identityGCGrace: \"0\": expected an integer 1-86400"),
            std::string::npos)
      << e;
}

TEST(AgentStoreConfig, InconsistentStoreSettingsAreErrors) {
  TempDir t;
  const std::string pem = t.write("ca.pem", "not checked here\n");
  struct Case {
    ConfigFlags flags;
    std::string expect;
  } cases[] = {
      {{{"--desired-state", "kafka"}}, "--desired-state: \"kafka\": expected directory or etcd"},
      {{{"--desired-state", "etcd"}, {"--manifests", t.path}},
       "manifests: set with desiredState etcd; expected one desired-state source"},
      {{{"--desired-state", "etcd"}, {"--etcd-endpoints", "https://127.0.0.1:2379"}},
       "kvstore.ca: required with https:// endpoints"},
      {{{"--desired-state", "etcd"}, {"--etcd-ca", pem}},
       "kvstore.ca: TLS files with http:// endpoints; expected https:// endpoints"},
      {{{"--desired-state", "etcd"},
        {"--etcd-endpoints", "https://127.0.0.1:2379"},
        {"--etcd-ca", pem},
        {"--etcd-cert", pem}},
       "kvstore.key: expected kvstore.cert and kvstore.key together"},
      {{{"--desired-state", "etcd"},
        {"--etcd-endpoints", "https://127.0.0.1:2379"},
        {"--etcd-ca", t.path + "/missing.pem"}},
       "kvstore.ca: \"" + t.path + "/missing.pem\": expected a readable file"},
      {{{"--desired-state", "etcd"}, {"--etcd-prefix", "/abs/"}},
       "--etcd-prefix: \"/abs/\": expected a key prefix ending in /"},
      {{{"--desired-state", "etcd"}, {"--etcd-endpoints", "http://a:1,http://b"}},
       "--etcd-endpoints: \"http://a:1,http://b\": expected comma-separated URLs"},
  };
  for (const auto& c : cases) {
    model::Diagnostics d;
    loadConfig("", with(kNode, c.flags), d);
    EXPECT_FALSE(d.ok()) << c.expect;
    EXPECT_NE(errors(d).find(c.expect), std::string::npos) << errors(d);
  }
}

TEST(AgentStoreDigest, OverSortedKeysAndValues) {
  // Two objects in either insertion order give one digest; a changed byte another.
  std::map<std::string, std::string> a = {{"objects/Pod/default/web", "{\"a\":1}"},
                                          {"objects/Namespace/shop", "{}"}};
  std::map<std::string, std::string> b;
  b["objects/Namespace/shop"] = "{}";
  b["objects/Pod/default/web"] = "{\"a\":1}";
  EXPECT_EQ(storeDigest(a), storeDigest(b));
  EXPECT_EQ(storeDigest(a).size(), 16u);
  b["objects/Pod/default/web"] = "{\"a\":2}";
  EXPECT_NE(storeDigest(a), storeDigest(b));
  EXPECT_NE(storeDigest({}), storeDigest(a));
}

}  // namespace
}  // namespace membrane::agent
