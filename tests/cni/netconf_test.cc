// SPDX-License-Identifier: Apache-2.0
// CNI wire types: network configuration parsing and validation (every error class with its
// position), the environment, results per version, prevResult merging.
#include "cni/netconf.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <string>

#include "cni/env.h"
#include "cni/json_pos.h"
#include "cni/wire.h"

namespace membrane::cni {
namespace {

using nlohmann::json;

Error confError(const std::string& text) {
  Result<NetConf> r = parseNetConf(text);
  EXPECT_FALSE(r.ok()) << text;
  return r.ok() ? Error{} : r.error();
}

TEST(NetConf, MinimalWithDefaults) {
  Result<NetConf> r =
      parseNetConf(R"({"cniVersion": "1.0.0", "name": "membrane", "type": "membrane-cni"})");
  ASSERT_TRUE(r.ok()) << r.error().details;
  EXPECT_EQ(r->version, Version::V1_0_0);
  EXPECT_EQ(r->agentSocket, "/var/run/membrane/membrane.sock");
  EXPECT_EQ(r->delQueueDir, "/var/run/membrane/cni-del-queue");
  EXPECT_EQ(r->agentTimeoutSeconds, 30);
  EXPECT_FALSE(r->disableCheck);
  EXPECT_FALSE(r->prevResult.has_value());
  EXPECT_FALSE(r->validAttachments.has_value());
}

TEST(NetConf, AllFields) {
  Result<NetConf> r = parseNetConf(R"({
    "cniVersion": "1.1.0", "name": "m.net-1", "type": "membrane-cni",
    "agentSocket": "/tmp/a.sock", "delQueueDir": "/tmp/q", "logFile": "/tmp/cni.log",
    "agentTimeoutSeconds": 5, "disableCheck": true, "disableGC": false,
    "args": {"cni": {"labels": {"app": "web", "example.com/tier": "front"}}},
    "runtimeConfig": {}, "dns": {},
    "cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}],
    "prevResult": {"cniVersion": "1.1.0", "interfaces": [], "ips": []}})");
  ASSERT_TRUE(r.ok()) << r.error().details;
  EXPECT_EQ(r->version, Version::V1_1_0);
  EXPECT_EQ(r->agentSocket, "/tmp/a.sock");
  EXPECT_EQ(r->delQueueDir, "/tmp/q");
  EXPECT_EQ(r->logFile, "/tmp/cni.log");
  EXPECT_EQ(r->agentTimeoutSeconds, 5);
  EXPECT_TRUE(r->disableCheck);
  EXPECT_EQ(r->labels,
            (std::map<std::string, std::string>{{"app", "web"}, {"example.com/tier", "front"}}));
  ASSERT_TRUE(r->validAttachments.has_value());
  ASSERT_EQ(r->validAttachments->size(), 1u);
  EXPECT_EQ((*r->validAttachments)[0].containerId, "c1");
  EXPECT_TRUE(r->prevResult.has_value());
}

TEST(NetConf, MalformedJsonIsDecodeFailureWithPosition) {
  Error e = confError("{\"cniVersion\": \"1.0.0\",\n  \"name\": \"x\"\n  \"type\": \"t\"}");
  EXPECT_EQ(e.code, Code::DecodeFailure);
  EXPECT_NE(e.details.find("<stdin>:3:8:"), std::string::npos) << e.details;
  EXPECT_EQ(confError("").code, Code::DecodeFailure);
  EXPECT_EQ(confError("[1, 2]").code, Code::DecodeFailure);
}

TEST(NetConf, UnknownVersionIsIncompatible) {
  for (const char* v : {"0.3.1", "2.0.0", "1.1"}) {
    Error e = confError(std::string(R"({"cniVersion": ")") + v + R"(", "name": "n", "type": "t"})");
    EXPECT_EQ(e.code, Code::IncompatibleVersion) << v;
    EXPECT_NE(e.details.find("<stdin>:1:16: field \"cniVersion\""), std::string::npos) << e.details;
  }
  EXPECT_EQ(confError(R"({"name": "n", "type": "t"})").code, Code::InvalidNetworkConfig);
}

TEST(NetConf, WrongTypesNameFieldAndPosition) {
  Error e = confError(
      "{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"type\": \"t\",\n"
      "  \"agentTimeoutSeconds\": \"5\"}");
  EXPECT_EQ(e.code, Code::InvalidNetworkConfig);
  EXPECT_NE(e.details.find("<stdin>:2:26: field \"agentTimeoutSeconds\""), std::string::npos)
      << e.details;
  e = confError(R"({"cniVersion": "1.0.0", "name": "bad name", "type": "t"})");
  EXPECT_EQ(e.code, Code::InvalidNetworkConfig);
  EXPECT_NE(e.details.find("field \"name\""), std::string::npos);
  e = confError(R"({"cniVersion": "1.0.0", "name": "n", "type": "t", "agentSocket": "rel.sock"})");
  EXPECT_NE(e.details.find("absolute path"), std::string::npos);
  e = confError(R"({"cniVersion": "1.0.0", "name": "n", "type": "t", "agentSocket": "/)" +
                std::string(120, 'a') + R"("})");
  EXPECT_NE(e.details.find("sockaddr_un"), std::string::npos) << e.details;
  e = confError(R"({"cniVersion": "1.0.0", "name": "n"})");
  EXPECT_NE(e.details.find("missing \"type\""), std::string::npos) << e.details;
}

TEST(NetConf, UnknownAndUnsupportedFieldsAreCode2) {
  Error e = confError(R"({"cniVersion": "1.0.0", "name": "n", "type": "t", "agentSockett": "/x"})");
  EXPECT_EQ(e.code, Code::UnsupportedField);
  EXPECT_NE(e.details.find("agentSockett"), std::string::npos);
  e = confError(R"({"cniVersion": "1.0.0", "name": "n", "type": "t",
                    "ipam": {"type": "host-local"}})");
  EXPECT_EQ(e.code, Code::UnsupportedField);
  e = confError(R"({"cniVersion": "1.0.0", "name": "n", "type": "t",
                    "args": {"labels": {"app": "x"}}})");
  EXPECT_EQ(e.code, Code::UnsupportedField);
}

TEST(NetConf, LabelsAreValidated) {
  Error e = confError(R"({"cniVersion": "1.0.0", "name": "n", "type": "t",
                          "args": {"cni": {"labels": {"app": "-bad"}}}})");
  EXPECT_EQ(e.code, Code::InvalidNetworkConfig);
  EXPECT_NE(e.details.find("field \"args/cni/labels/app\""), std::string::npos) << e.details;
  EXPECT_NE(e.details.find("<stdin>:2:62"), std::string::npos) << e.details;
  e = confError(R"({"cniVersion": "1.0.0", "name": "n", "type": "t",
                    "args": {"cni": {"labels": {"app": 3}}}})");
  EXPECT_EQ(e.code, Code::InvalidNetworkConfig);
  EXPECT_EQ(labelProblem("a/b/c", "x").empty(), false);
  EXPECT_EQ(labelProblem("k8s.io/app", ""), "");
  EXPECT_FALSE(labelProblem(std::string(64, 'a'), "").empty());
}

TEST(NetConf, RuntimeConfigIps) {
  Result<NetConf> r = parseNetConf(R"({"cniVersion": "1.0.0", "name": "n", "type": "t",
      "runtimeConfig": {"ips": ["fd00::5/64", "10.0.1.9/24"]}})");
  ASSERT_TRUE(r.ok()) << r.error().details;
  EXPECT_EQ(r->runtimeIp, "10.0.1.9");
  Error e = confError(R"({"cniVersion": "1.0.0", "name": "n", "type": "t",
      "runtimeConfig": {"ips": ["10.0.1.300"]}})");
  EXPECT_EQ(e.code, Code::InvalidNetworkConfig);
  EXPECT_NE(e.details.find("field \"runtimeConfig/ips/0\""), std::string::npos) << e.details;
  e = confError(R"({"cniVersion": "1.0.0", "name": "n", "type": "t",
      "runtimeConfig": {"ips": ["10.0.1.2", "10.0.1.3"]}})");
  EXPECT_EQ(e.code, Code::InvalidNetworkConfig);
}

TEST(JsonPos, PointersAndEscapes) {
  PosIndex idx = indexPositions("{\"a\": {\"b/c\": [1, \"x\"]},\n \"d~\": true}");
  EXPECT_EQ(idx["/a"].column, 7);
  EXPECT_EQ(idx["/a/b~1c/1"].column, 19);
  EXPECT_EQ(idx["/d~0"].line, 2);
}

// Any truncation or one-byte change of a valid configuration either parses or yields one of
// the configuration error codes with a <stdin>:line:column position; never a crash.
RC_GTEST_PROP(NetConfProp, MutatedConfigsFailWithAPosition, ()) {
  const std::string valid = R"({"cniVersion": "1.0.0", "name": "membrane",
  "type": "membrane-cni", "agentSocket": "/run/a.sock", "agentTimeoutSeconds": 5,
  "args": {"cni": {"labels": {"app": "web"}}},
  "cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}]})";
  std::string text = valid;
  const size_t at = *rc::gen::inRange<size_t>(0, valid.size());
  switch (*rc::gen::inRange(0, 3)) {
    case 0:
      text = valid.substr(0, at);
      break;
    case 1:
      text[at] = *rc::gen::inRange<char>(32, 127);
      break;
    default:
      text.erase(at, 1);
      break;
  }
  Result<NetConf> r = parseNetConf(text);
  if (r.ok()) return;
  const int code = static_cast<int>(r.error().code);
  RC_ASSERT(code == 1 || code == 2 || code == 6 || code == 7);
  RC_ASSERT(r.error().details.rfind("<stdin>:", 0) == 0);
}

// ---- environment

std::map<std::string, std::string> gEnv;
const char* fakeGetenv(const char* name) {
  auto it = gEnv.find(name);
  return it == gEnv.end() ? nullptr : it->second.c_str();
}

TEST(Env, AddNeedsContainerIfnameNetns) {
  gEnv = {{"CNI_COMMAND", "ADD"}, {"CNI_CONTAINERID", "c1"}, {"CNI_IFNAME", "eth0"}};
  Result<Env> r = parseEnv(fakeGetenv);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::InvalidEnvironment);
  EXPECT_NE(r.error().details.find("CNI_NETNS"), std::string::npos);
  gEnv["CNI_NETNS"] = "/proc/self/ns/net";
  gEnv["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAME=web-0;FOO=bar;IP=10.0.1.9";
  r = parseEnv(fakeGetenv);
  ASSERT_TRUE(r.ok()) << r.error().details;
  EXPECT_EQ(r->args.podNamespace, "default");  // podman passes no namespace
  EXPECT_EQ(r->args.podName, "web-0");
  EXPECT_EQ(r->args.ip, "10.0.1.9");
}

TEST(Env, DelDoesNotNeedNetns) {
  gEnv = {{"CNI_COMMAND", "DEL"}, {"CNI_CONTAINERID", "c1"}, {"CNI_IFNAME", "eth0"}};
  EXPECT_TRUE(parseEnv(fakeGetenv).ok());
}

TEST(Env, BadValues) {
  auto code = [](std::map<std::string, std::string> env) {
    gEnv = std::move(env);
    Result<Env> r = parseEnv(fakeGetenv);
    return r.ok() ? 0 : static_cast<int>(r.error().code);
  };
  EXPECT_EQ(code({{"CNI_COMMAND", "ATTACH"}}), 4);
  EXPECT_EQ(code({}), 4);
  EXPECT_EQ(code({{"CNI_COMMAND", "DEL"}, {"CNI_CONTAINERID", "a b"}, {"CNI_IFNAME", "eth0"}}), 4);
  EXPECT_EQ(code({{"CNI_COMMAND", "DEL"}, {"CNI_CONTAINERID", "c"}, {"CNI_IFNAME", "eth0:1"}}), 4);
  EXPECT_EQ(
      code(
          {{"CNI_COMMAND", "DEL"}, {"CNI_CONTAINERID", "c"}, {"CNI_IFNAME", "a-very-long-ifname"}}),
      4);
  EXPECT_EQ(code({{"CNI_COMMAND", "DEL"},
                  {"CNI_CONTAINERID", "c"},
                  {"CNI_IFNAME", "eth0"},
                  {"CNI_ARGS", "FOO=bar"}}),
            4);
  EXPECT_EQ(code({{"CNI_COMMAND", "DEL"},
                  {"CNI_CONTAINERID", "c"},
                  {"CNI_IFNAME", "eth0"},
                  {"CNI_ARGS", "IP=10.0.1"}}),
            4);
  EXPECT_EQ(code({{"CNI_COMMAND", "DEL"},
                  {"CNI_CONTAINERID", "c"},
                  {"CNI_IFNAME", "eth0"},
                  {"CNI_ARGS", "novalue"}}),
            4);
}

TEST(Env, NetnsMustBeANetworkNamespace) {
  EXPECT_FALSE(checkNetns("/proc/self/ns/net").has_value());
  for (const char* p :
       {"/nonexistent/netns", "/proc/self/ns/uts", "/etc/hostname", "/tmp", "rel"}) {
    std::optional<Error> e = checkNetns(p);
    ASSERT_TRUE(e.has_value()) << p;
    EXPECT_EQ(e->code, Code::InvalidEnvironment) << p;
  }
}

// ---- results

CniResult sample() {
  CniResult r;
  r.interfaces = {
      {.name = "lxc1"},
      {.name = "eth0", .mac = "0a:58:00:00:00:01", .sandbox = "/run/netns/x", .mtu = 1450}};
  r.ips = {{.address = "10.0.1.7/32", .gateway = "169.254.1.1", .interface = 1}};
  r.routes = {{.dst = "0.0.0.0/0", .gw = "169.254.1.1"}};
  return r;
}

TEST(Result, ShapePerVersion) {
  json v04 = toJson(sample(), Version::V0_4_0);
  EXPECT_EQ(v04["cniVersion"], "0.4.0");
  EXPECT_EQ(v04["ips"][0]["version"], "4");
  EXPECT_FALSE(v04["interfaces"][1].contains("mtu"));
  json v10 = toJson(sample(), Version::V1_0_0);
  EXPECT_EQ(v10["cniVersion"], "1.0.0");
  EXPECT_FALSE(v10["ips"][0].contains("version"));
  EXPECT_FALSE(v10["interfaces"][1].contains("mtu"));
  json v11 = toJson(sample(), Version::V1_1_0);
  EXPECT_EQ(v11["interfaces"][1]["mtu"], 1450);
  EXPECT_EQ(v11["ips"][0]["interface"], 1);
  EXPECT_EQ(v11["routes"][0]["gw"], "169.254.1.1");
  EXPECT_FALSE(v11["interfaces"][0].contains("sandbox"));
}

TEST(Result, RoundTripsThroughEveryVersion) {
  for (Version v : {Version::V0_4_0, Version::V1_0_0, Version::V1_1_0}) {
    Result<CniResult> back = parseResult(toJson(sample(), v), "prevResult");
    ASSERT_TRUE(back.ok()) << back.error().details;
    EXPECT_EQ(back->ips[0].address, "10.0.1.7/32");
    EXPECT_EQ(back->interfaces[1].sandbox, "/run/netns/x");
  }
}

TEST(Result, MalformedPrevResultIsDecodeFailure) {
  Result<CniResult> r = parseResult(json{{"ips", {{{"address", 7}}}}}, "prevResult");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::DecodeFailure);
  EXPECT_NE(r.error().details.find("prevResult.ips[0].address"), std::string::npos);
  r = parseResult(json{{"interfaces", json::array()},
                       {"ips", {{{"address", "10.0.0.1/24"}, {"interface", 3}}}}},
                  "prevResult");
  EXPECT_FALSE(r.ok());
}

TEST(Result, MergeShiftsInterfaceIndices) {
  CniResult prev;
  prev.interfaces = {{.name = "br0"}, {.name = "net1", .sandbox = "/run/netns/x"}};
  prev.ips = {{.address = "192.168.9.2/24", .interface = 1}};
  CniResult merged = mergeResults(prev, sample());
  ASSERT_EQ(merged.interfaces.size(), 4u);
  ASSERT_EQ(merged.ips.size(), 2u);
  EXPECT_EQ(merged.ips[0].interface, 1);
  EXPECT_EQ(merged.ips[1].interface, 3);
  EXPECT_EQ(merged.interfaces[3].name, "eth0");
}

TEST(ErrorObject, SpecShape) {
  json j = errorJson({Code::TryAgainLater, "agent down", "socket /x"}, "1.0.0");
  EXPECT_EQ(
      j,
      (json{
          {"cniVersion", "1.0.0"}, {"code", 11}, {"msg", "agent down"}, {"details", "socket /x"}}));
}

}  // namespace
}  // namespace membrane::cni
