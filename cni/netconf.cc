// SPDX-License-Identifier: Apache-2.0
#include "cni/netconf.h"

#include <arpa/inet.h>
#include <sys/un.h>

#include <cctype>
#include <set>

#include "cni/json_pos.h"

namespace membrane::cni {

using nlohmann::json;

namespace {

constexpr size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;

// Fields of the spec (1.1.0 and older) and membrane's own; anything else is code 2.
const std::set<std::string, std::less<>> kKnownFields = {"cniVersion",
                                                         "name",
                                                         "type",
                                                         "disableCheck",
                                                         "disableGC",
                                                         "args",
                                                         "dns",
                                                         "prevResult",
                                                         "runtimeConfig",
                                                         "capabilities",
                                                         "ipam",
                                                         "agentSocket",
                                                         "delQueueDir",
                                                         "logFile",
                                                         "agentTimeoutSeconds",
                                                         "cniVersions",
                                                         "cni.dev/valid-attachments"};

class Checker {
 public:
  Checker(std::string_view text, std::string_view source, const json& root)
      : source_(source), root_(root), pos_(indexPositions(text)) {}

  Error fail(Code code, const std::string& pointer, const std::string& expected) const {
    TextPos p = where(pointer);
    std::string field = pointer.empty() ? "(document)" : pointer.substr(1);
    return Error{code, "invalid network configuration",
                 std::string(source_) + ":" + std::to_string(p.line) + ":" +
                     std::to_string(p.column) + ": field \"" + field + "\": " + expected};
  }

  TextPos where(const std::string& pointer) const {
    auto it = pos_.find(pointer);
    return it == pos_.end() ? TextPos{} : it->second;
  }

  const json* at(const std::string& pointer) const {
    json::json_pointer p(pointer);
    return root_.contains(p) ? &root_.at(p) : nullptr;
  }

 private:
  std::string_view source_;
  const json& root_;
  PosIndex pos_;
};

bool validName(const std::string& s) {
  // The spec: ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$
  if (s.empty() || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
      return false;
  return true;
}

bool labelSegment(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

std::optional<Error> parseStrings(const Checker& c, NetConf& nc) {
  struct Field {
    const char* name;
    std::string* out;
    bool required;
  };
  const Field fields[] = {{"name", &nc.name, true},
                          {"type", &nc.type, true},
                          {"agentSocket", &nc.agentSocket, false},
                          {"delQueueDir", &nc.delQueueDir, false},
                          {"logFile", &nc.logFile, false}};
  for (const Field& f : fields) {
    const std::string ptr = std::string("/") + f.name;
    const json* v = c.at(ptr);
    if (v == nullptr) {
      if (f.required)
        return c.fail(Code::InvalidNetworkConfig, "",
                      "missing \"" + std::string(f.name) + "\" (a string)");
      continue;
    }
    if (!v->is_string() || v->get<std::string>().empty())
      return c.fail(Code::InvalidNetworkConfig, ptr, "expected a non-empty string");
    *f.out = v->get<std::string>();
  }
  if (!validName(nc.name))
    return c.fail(Code::InvalidNetworkConfig, "/name",
                  "expected a network name matching ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$");
  for (const char* path : {"/agentSocket", "/delQueueDir", "/logFile"}) {
    const json* v = c.at(path);
    if (v != nullptr && v->get<std::string>()[0] != '/')
      return c.fail(Code::InvalidNetworkConfig, path, "expected an absolute path");
  }
  // sockaddr_un holds 108 bytes with the NUL; a longer path could never connect, which would
  // otherwise read as "agent down" (11) forever.
  if (nc.agentSocket.size() > kMaxSocketPath)
    return c.fail(Code::InvalidNetworkConfig, "/agentSocket",
                  "expected a socket path of at most " + std::to_string(kMaxSocketPath) +
                      " bytes (sockaddr_un)");
  return std::nullopt;
}

std::optional<Error> parseScalars(const Checker& c, NetConf& nc) {
  for (auto [name, out] :
       {std::pair{"/disableCheck", &nc.disableCheck}, std::pair{"/disableGC", &nc.disableGC}}) {
    if (const json* v = c.at(name)) {
      if (!v->is_boolean())
        return c.fail(Code::InvalidNetworkConfig, name, "expected true or false");
      *out = v->get<bool>();
    }
  }
  if (const json* v = c.at("/agentTimeoutSeconds")) {
    if (!v->is_number_integer() || v->get<long long>() < 1 || v->get<long long>() > 600)
      return c.fail(Code::InvalidNetworkConfig, "/agentTimeoutSeconds",
                    "expected an integer number of seconds, 1 to 600");
    nc.agentTimeoutSeconds = v->get<int>();
  }
  return std::nullopt;
}

std::optional<Error> parseLabels(const Checker& c, NetConf& nc) {
  const json* args = c.at("/args");
  if (args == nullptr) return std::nullopt;
  if (!args->is_object()) return c.fail(Code::InvalidNetworkConfig, "/args", "expected an object");
  if (args->contains("labels"))
    return c.fail(Code::UnsupportedField, "/args/labels",
                  "labels go under \"args\": {\"cni\": {\"labels\": {...}}} (CNI conventions)");
  const json* labels = c.at("/args/cni/labels");
  if (labels == nullptr) return std::nullopt;
  if (!labels->is_object())
    return c.fail(Code::InvalidNetworkConfig, "/args/cni/labels",
                  "expected an object of label key to string value");
  for (const auto& [k, v] : labels->items()) {
    const std::string ptr = "/args/cni/labels/" + pointerToken(k);
    if (!v.is_string()) return c.fail(Code::InvalidNetworkConfig, ptr, "expected a string value");
    if (std::string problem = labelProblem(k, v.get<std::string>()); !problem.empty())
      return c.fail(Code::InvalidNetworkConfig, ptr, problem);
    nc.labels[k] = v.get<std::string>();
  }
  return std::nullopt;
}

std::optional<Error> parseAttachments(const Checker& c, NetConf& nc) {
  const std::string key = "/cni.dev~1valid-attachments";
  const json* list = c.at(key);
  if (list == nullptr) return std::nullopt;
  if (!list->is_array()) return c.fail(Code::InvalidNetworkConfig, key, "expected an array");
  std::vector<Attachment> out;
  for (size_t n = 0; n < list->size(); ++n) {
    const json& a = (*list)[n];
    const std::string ptr = key + "/" + std::to_string(n);
    if (!a.is_object() || !a.contains("containerID") || !a["containerID"].is_string() ||
        !a.contains("ifname") || !a["ifname"].is_string())
      return c.fail(Code::InvalidNetworkConfig, ptr,
                    "expected {\"containerID\": string, \"ifname\": string}");
    out.push_back({a["containerID"].get<std::string>(), a["ifname"].get<std::string>()});
  }
  nc.validAttachments = std::move(out);
  return std::nullopt;
}

std::optional<Error> parseRuntimeIps(const Checker& c, NetConf& nc) {
  const json* ips = c.at("/runtimeConfig/ips");
  if (ips == nullptr) return std::nullopt;
  if (!ips->is_array())
    return c.fail(Code::InvalidNetworkConfig, "/runtimeConfig/ips", "expected an array");
  for (size_t n = 0; n < ips->size(); ++n) {
    const std::string ptr = "/runtimeConfig/ips/" + std::to_string(n);
    const json& v = (*ips)[n];
    std::string addr = v.is_string() ? v.get<std::string>() : "";
    addr = addr.substr(0, addr.find('/'));
    in_addr a{};
    in6_addr a6{};
    if (inet_pton(AF_INET6, addr.c_str(), &a6) == 1) continue;  // IPv6: the agent has none
    if (inet_pton(AF_INET, addr.c_str(), &a) != 1)
      return c.fail(Code::InvalidNetworkConfig, ptr, "expected an IP address, optionally /prefix");
    if (!nc.runtimeIp.empty())
      return c.fail(Code::InvalidNetworkConfig, ptr, "one IPv4 address per attachment");
    nc.runtimeIp = addr;
  }
  return std::nullopt;
}

std::optional<Error> parseFields(const Checker& c, const json& root, NetConf& nc) {
  for (const auto& [k, v] : root.items()) {
    if (!kKnownFields.contains(k))
      return c.fail(Code::UnsupportedField, "/" + pointerToken(k),
                    "not a field of membrane-cni (docs/cni.md lists them)");
  }
  if (root.contains("ipam"))
    return c.fail(Code::UnsupportedField, "/ipam",
                  "membrane-cni takes addresses from the agent's IPAM; remove \"ipam\"");
  if (auto e = parseStrings(c, nc)) return e;
  if (auto e = parseScalars(c, nc)) return e;
  if (auto e = parseLabels(c, nc)) return e;
  if (auto e = parseAttachments(c, nc)) return e;
  if (auto e = parseRuntimeIps(c, nc)) return e;
  if (const json* prev = c.at("/prevResult")) {
    if (!prev->is_object())
      return c.fail(Code::InvalidNetworkConfig, "/prevResult", "expected a result object");
    nc.prevResult = *prev;
  }
  return std::nullopt;
}

}  // namespace

std::string labelProblem(const std::string& key, const std::string& value) {
  std::string_view name = key;
  if (size_t slash = key.find('/'); slash != std::string::npos) {
    std::string_view prefix = std::string_view(key).substr(0, slash);
    name = std::string_view(key).substr(slash + 1);
    if (!labelSegment(prefix, 253))
      return "label key prefix \"" + std::string(prefix) + "\" is not a DNS subdomain";
  }
  if (!labelSegment(name, 63))
    return "label key \"" + key +
           "\": expected 1-63 characters [A-Za-z0-9._-], alphanumeric at both ends";
  if (!value.empty() && !labelSegment(value, 63))
    return "label value \"" + value +
           "\": expected empty or 1-63 characters [A-Za-z0-9._-], alphanumeric at both ends";
  return "";
}

Result<NetConf> parseNetConf(std::string_view text, std::string_view source) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    TextPos p = positionOf(text, e.byte > 0 ? e.byte - 1 : 0);
    std::string what = e.what();
    if (size_t colon = what.find("syntax error"); colon != std::string::npos)
      what = what.substr(colon);
    return Error{Code::DecodeFailure, "cannot decode the network configuration",
                 std::string(source) + ":" + std::to_string(p.line) + ":" +
                     std::to_string(p.column) + ": " + what};
  }
  Checker c(text, source, root);
  if (!root.is_object()) return c.fail(Code::DecodeFailure, "", "expected a JSON object");
  const json* ver = c.at("/cniVersion");
  if (ver == nullptr || !ver->is_string())
    return c.fail(Code::InvalidNetworkConfig, ver ? "/cniVersion" : "",
                  "expected \"cniVersion\" as a string (0.4.0, 1.0.0 or 1.1.0)");
  std::optional<Version> v = parseVersion(ver->get<std::string>());
  if (!v) {
    Error e = c.fail(Code::IncompatibleVersion, "/cniVersion",
                     "\"" + ver->get<std::string>() +
                         "\" is not supported; supported: 0.4.0, "
                         "1.0.0, 1.1.0");
    e.msg = "incompatible CNI version";
    return e;
  }
  NetConf nc;
  nc.version = *v;
  if (auto e = parseFields(c, root, nc)) return *e;
  return nc;
}

std::string peekVersion(std::string_view text) {
  try {
    json j = json::parse(text);
    if (j.is_object() && j.contains("cniVersion") && j["cniVersion"].is_string()) {
      std::string v = j["cniVersion"].get<std::string>();
      if (parseVersion(v)) return v;
    }
  } catch (const json::parse_error&) {
  }
  return "1.1.0";
}

}  // namespace membrane::cni
