// SPDX-License-Identifier: Apache-2.0
// The network configuration membrane-cni reads on stdin: the spec's fields plus membrane's
// (docs/cni.md). Parsed and validated once; every error names <source>:line:column and the
// field.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cni/wire.h"

namespace membrane::cni {

inline constexpr std::string_view kDefaultAgentSocket = "/var/run/membrane/membrane.sock";
inline constexpr std::string_view kDefaultDelQueueDir = "/var/run/membrane/cni-del-queue";
inline constexpr int kDefaultAgentTimeoutSeconds = 30;

struct Attachment {
  std::string containerId;
  std::string ifname;
};

struct NetConf {
  Version version = Version::V1_0_0;
  std::string name;
  std::string type;
  bool disableCheck = false;
  bool disableGC = false;
  std::string agentSocket{kDefaultAgentSocket};
  std::string delQueueDir{kDefaultDelQueueDir};
  std::string logFile;  // empty: stderr
  int agentTimeoutSeconds = kDefaultAgentTimeoutSeconds;
  // Labels for a container without a Pod object: "args": {"cni": {"labels": {...}}}.
  std::map<std::string, std::string> labels;
  // runtimeConfig.ips (capability "ips", podman's --ip): the requested IPv4 address without
  // prefix; empty: none. CNI_ARGS IP= wins when both are given.
  std::string runtimeIp;
  std::optional<nlohmann::json> prevResult;  // raw; parsed with parseResult() where used
  std::optional<std::vector<Attachment>> validAttachments;  // "cni.dev/valid-attachments"
};

// `text` is stdin; `source` names it in errors ("<stdin>"). Codes: 6 malformed JSON (with
// the position), 1 unsupported cniVersion, 2 unknown or unsupported field, 7 invalid value.
Result<NetConf> parseNetConf(std::string_view text, std::string_view source = "<stdin>");

// Only the cniVersion string, best effort, for error objects of configs that did not parse.
std::string peekVersion(std::string_view text);

// Kubernetes label syntax: [prefix/]name, name 1-63 [A-Za-z0-9._-] alnum at both ends;
// value empty or the same alphabet. Empty string: valid; else what is wrong.
std::string labelProblem(const std::string& key, const std::string& value);

}  // namespace membrane::cni
