// SPDX-License-Identifier: Apache-2.0
// The plugin's side of docs/agent-api.md: JSON over HTTP/1.1 on the agent's unix socket.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace membrane::cni {

// One answer of the agent, or why there was none.
struct AgentReply {
  enum class Kind {
    Answered,     // an HTTP status arrived (status, body)
    Unreachable,  // no socket, connection refused: the agent is not running
    Broken,       // connected, but the exchange failed (timeout, reset, not JSON)
  };
  Kind kind = Kind::Unreachable;
  int status = 0;
  nlohmann::json body;  // the response object; {} when there is none
  std::string transportError;

  bool answered() const { return kind == Kind::Answered; }
  bool success() const { return answered() && status >= 200 && status < 300; }
  std::string errorCode() const;     // body.error.code, "" when absent
  std::string errorMessage() const;  // body.error.message, or a description of the failure
};

class AgentClient {
 public:
  AgentClient(std::string socketPath, int timeoutSeconds);

  AgentReply get(const std::string& path) const;
  AgentReply put(const std::string& path, const nlohmann::json& body) const;
  AgentReply post(const std::string& path, const nlohmann::json& body) const;
  AgentReply del(const std::string& path) const;

  const std::string& socketPath() const { return socket_; }

 private:
  AgentReply send(const std::string& method, const std::string& path,
                  const nlohmann::json* body) const;
  std::string socket_;
  int timeoutSeconds_;
};

// Percent-encodes everything outside RFC 3986's unreserved set (path segments, query values).
std::string urlEncode(const std::string& s);
// "/v1/endpoints/{id}" + "?ifname=" for one attachment, with `suffix` ("", "/check") between.
std::string endpointPath(const std::string& containerId, const std::string& ifname,
                         const std::string& suffix = "");

}  // namespace membrane::cni
