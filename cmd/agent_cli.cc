// SPDX-License-Identifier: Apache-2.0
// membrane status, membrane endpoint list|get|config: thin clients of the agent's API.
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "agent/client.h"
#include "cmd/args.h"

namespace membrane::cmd {
namespace {

constexpr const char* kAgentExits =
    "\n  Exit codes: 0 ok, 1 the agent is unreachable or answered an error (e.g. no such\n"
    "  endpoint; its message is printed), 2 usage";

// `method` `path`; prints the agent's error and returns nullopt on failure.
std::optional<nlohmann::json> call(const Args& a, const std::string& method,
                                   const std::string& path, const std::string& body = "") {
  const std::string socket =
      a.values.count("--socket") ? a.values.at("--socket") : agent::kDefaultSocket;
  auto r = agent::apiRequest(socket, method, path, body);
  if (!r) {
    std::cerr << "error: " << r.error().context << "\n";
    return std::nullopt;
  }
  if (r->status >= 400) {
    const auto& e = r->body.contains("error") ? r->body["error"] : r->body;
    std::cerr << "error: agent answered " << r->status << ": "
              << e.value("message", e.value("status", r->body.dump())) << "\n";
    return std::nullopt;
  }
  return r->body;
}

std::optional<nlohmann::json> get(const Args& a, const std::string& path) {
  return call(a, "GET", path);
}

// "PolicyAuditMode=Enabled|Disabled" (Cilium's `cilium endpoint config` syntax) -> the
// body of PATCH /v1/endpoints/ID/config; nullopt (with `error`) for anything else.
std::optional<std::string> endpointConfigBody(const std::vector<std::string>& settings,
                                              std::string& error) {
  nlohmann::json body = nlohmann::json::object();
  for (const auto& s : settings) {
    const auto eq = s.find('=');
    const std::string key = s.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : s.substr(eq + 1);
    if (key != "PolicyAuditMode") {
      error = "unknown option \"" + key + "\" (expected PolicyAuditMode=Enabled|Disabled)";
      return std::nullopt;
    }
    if (value != "Enabled" && value != "Disabled") {
      error = "PolicyAuditMode: expected Enabled or Disabled, got \"" + value + "\"";
      return std::nullopt;
    }
    body["policyAuditMode"] = value == "Enabled";
  }
  if (body.empty()) {
    error = "expected an option, e.g. PolicyAuditMode=Enabled";
    return std::nullopt;
  }
  return body.dump();
}

void printStatus(const nlohmann::json& s) {
  std::cout << "node:          " << s.value("node", "") << " (" << s.value("nodeIP", "")
            << "), pod CIDR " << s.value("podCIDR", "") << ", " << s.value("routing", "")
            << " routing\n"
            << "ready:         " << (s.value("ready", false) ? "yes" : "no") << "\n"
            << "endpoints:     " << s.value("endpoints", 0) << "\n"
            << "identities:    " << s.value("identities", 0) << "\n"
            << "policy rev:    " << s.value("policyRevision", 0) << "\n"
            << "last reconcile " << s.value("lastReconcile", "") << "\n"
            << "last error:    " << s.value("lastError", "") << "\n"
            << "maps:          " << s["maps"].dump() << "\n"
            << "ipam:          " << s["ipam"].value("allocated", 0) << " allocated, "
            << s["ipam"].value("free", 0) << " free\n"
            << "desired state: " << s["desiredState"].value("source", "") << " "
            << s["desiredState"].value("path", s["desiredState"].value("prefix", ""))
            << ", applied " << s["desiredState"].value("applied", "") << "\n";
  const nlohmann::json& st = s.contains("store") ? s["store"] : nlohmann::json();
  if (!st.is_object()) return;
  std::string eps;
  for (const auto& e : st.value("endpoints", nlohmann::json::array())) {
    eps += (eps.empty() ? "" : ",") + e.get<std::string>();
  }
  std::cout << "store:         " << (st.value("reachable", false) ? "reachable" : "UNREACHABLE")
            << " (" << eps << "), revision " << st.value("revision", 0) << ", lease "
            << st.value("lease", "") << "\n"
            << "store nodes:   " << st.value("nodes", 0) << ", ipcache " << st.value("ipcache", 0)
            << ", identities held " << st.value("identitiesHeld", 0) << "\n"
            << "store error:   " << st.value("lastError", "") << "\n";
}

}  // namespace

int cmdStatus(int argc, char** argv) {
  Args a;
  const std::string help = std::string(
                               "membrane status [--socket PATH] [-o txt|json]\n"
                               "  The node agent's status (GET /status): endpoints, identities, "
                               "policy revision,\n  map sizes, IPAM, last error. --socket "
                               "defaults to ") +
                           agent::kDefaultSocket + "." + kAgentExits;
  if (!a.parse(argc, argv, {"--socket="}, help, false)) return a.exit_code;
  auto s = get(a, "/status");
  if (!s) return kExitFailed;
  if (a.output == "json") {
    std::cout << s->dump(2) << "\n";
  } else {
    printStatus(*s);
  }
  return kExitOk;
}

int cmdEndpoint(int argc, char** argv) {
  Args a;
  const std::string help =
      std::string(
          "membrane endpoint list|get CONTAINER_ID [--ifname NAME] [--socket PATH] [-o "
          "txt|json]\n"
          "membrane endpoint config CONTAINER_ID PolicyAuditMode=Enabled|Disabled [--ifname "
          "NAME]\n"
          "  The agent's endpoints (GET /v1/endpoints[/ID]); get prints one endpoint as "
          "JSON;\n  config sets the endpoint's policy audit mode (policy drops pass and are "
          "reported\n  as AUDIT; kept across agent restarts) and prints the endpoint.\n"
          "  --ifname defaults to eth0, --socket to ") +
      agent::kDefaultSocket + "." + kAgentExits;
  if (!a.parse(argc, argv, {"--socket=", "--ifname="}, help, true)) return a.exit_code;
  const std::string verb = a.paths[0];
  if (verb == "get" && a.paths.size() == 2) {
    const std::string ifname = a.values.count("--ifname") ? a.values["--ifname"] : "eth0";
    auto e = get(a, "/v1/endpoints/" + a.paths[1] + "?ifname=" + ifname);
    if (!e) return kExitFailed;
    std::cout << (*e)["endpoint"].dump(2) << "\n";
    return kExitOk;
  }
  if (verb == "config" && a.paths.size() >= 2) {
    const std::string ifname = a.values.count("--ifname") ? a.values["--ifname"] : "eth0";
    std::string error;
    auto body = endpointConfigBody({a.paths.begin() + 2, a.paths.end()}, error);
    if (!body) {
      std::cerr << "error: " << error << "\n\nUsage: " << help << "\n";
      return kExitBadInput;
    }
    auto e = call(a, "PATCH", "/v1/endpoints/" + a.paths[1] + "/config?ifname=" + ifname, *body);
    if (!e) return kExitFailed;
    std::cout << (*e)["endpoint"].dump(2) << "\n";
    return kExitOk;
  }
  if (verb != "list" || a.paths.size() != 1) {
    std::cerr
        << "error: expected list, get CONTAINER_ID or config CONTAINER_ID OPTION=VALUE\n\nUsage: "
        << help << "\n";
    return kExitBadInput;
  }
  auto l = get(a, "/v1/endpoints");
  if (!l) return kExitFailed;
  if (a.output == "json") {
    std::cout << l->dump(2) << "\n";
    return kExitOk;
  }
  std::printf("%-5s %-20s %-6s %-28s %-15s %-9s %-12s %s\n", "ID", "CONTAINER", "IFNAME", "POD",
              "IP", "IDENTITY", "HOST-IF", "STATE");
  for (const auto& e : (*l)["endpoints"]) {
    const std::string pod = e.value("podName", "").empty()
                                ? "-"
                                : e.value("podNamespace", "") + "/" + e.value("podName", "");
    std::printf("%-5d %-20s %-6s %-28s %-15s %-9u %-12s %s\n", e.value("id", 0),
                e.value("containerId", "").substr(0, 20).c_str(), e.value("ifname", "").c_str(),
                pod.c_str(), e.value("ip", "").c_str(), e.value("identity", 0u),
                e.value("hostIfname", "").c_str(), e.value("state", "").c_str());
  }
  return kExitOk;
}

}  // namespace membrane::cmd
