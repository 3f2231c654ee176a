// SPDX-License-Identifier: Apache-2.0
#include "cni/agent_client.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cstdio>

namespace membrane::cni {

using nlohmann::json;

std::string AgentReply::errorCode() const {
  if (body.is_object() && body.contains("error") && body["error"].is_object() &&
      body["error"].contains("code") && body["error"]["code"].is_string())
    return body["error"]["code"].get<std::string>();
  return "";
}

std::string AgentReply::errorMessage() const {
  if (!answered()) return transportError;
  if (body.is_object() && body.contains("error") && body["error"].is_object() &&
      body["error"].contains("message") && body["error"]["message"].is_string())
    return body["error"]["message"].get<std::string>();
  return "HTTP " + std::to_string(status);
}

AgentClient::AgentClient(std::string socketPath, int timeoutSeconds)
    : socket_(std::move(socketPath)), timeoutSeconds_(timeoutSeconds) {}

AgentReply AgentClient::get(const std::string& path) const { return send("GET", path, nullptr); }
AgentReply AgentClient::put(const std::string& path, const json& body) const {
  return send("PUT", path, &body);
}
AgentReply AgentClient::post(const std::string& path, const json& body) const {
  return send("POST", path, &body);
}
AgentReply AgentClient::del(const std::string& path) const { return send("DELETE", path, nullptr); }

AgentReply AgentClient::send(const std::string& method, const std::string& path,
                             const json* body) const {
  httplib::Client cli(socket_);
  cli.set_address_family(AF_UNIX);
  cli.set_connection_timeout(timeoutSeconds_, 0);
  cli.set_read_timeout(timeoutSeconds_, 0);
  cli.set_write_timeout(timeoutSeconds_, 0);
  const std::string payload = body ? body->dump() : "";
  httplib::Result res = [&] {
    if (method == "GET") return cli.Get(path);
    if (method == "PUT") return cli.Put(path, payload, "application/json");
    if (method == "POST") return cli.Post(path, payload, "application/json");
    return cli.Delete(path);
  }();
  AgentReply r;
  if (!res) {
    // Connection: nothing listens (no socket file, refused) - the agent is down.
    r.kind = res.error() == httplib::Error::Connection ? AgentReply::Kind::Unreachable
                                                       : AgentReply::Kind::Broken;
    r.transportError = "agent socket " + socket_ + ": " +
                       (r.kind == AgentReply::Kind::Unreachable
                            ? std::string("cannot connect (is membrane-agent running?)")
                            : httplib::to_string(res.error()));
    return r;
  }
  r.kind = AgentReply::Kind::Answered;
  r.status = res->status;
  try {
    r.body = res->body.empty() ? json::object() : json::parse(res->body);
  } catch (const json::parse_error& e) {
    r.kind = AgentReply::Kind::Broken;
    r.transportError = "agent answered " + method + " " + path + " with HTTP " +
                       std::to_string(res->status) + " and a body that is not JSON: " + e.what();
  }
  return r;
}

std::string urlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string endpointPath(const std::string& containerId, const std::string& ifname,
                         const std::string& suffix) {
  return "/v1/endpoints/" + urlEncode(containerId) + suffix + "?ifname=" + urlEncode(ifname);
}

}  // namespace membrane::cni
