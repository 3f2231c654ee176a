// SPDX-License-Identifier: Apache-2.0
// The agent's API (docs/agent-api.md): HTTP/1.1 + JSON on a unix socket, cpp-httplib's
// server, handlers that translate to Agent calls and its errors to HTTP statuses.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "agent/agent.h"

namespace httplib {
class Server;
}

namespace membrane::agent {

class ApiServer {
 public:
  // Binds `socket` (mode 0660; its directory is created, a stale socket replaced) and
  // serves on a thread of its own.
  static Result<std::unique_ptr<ApiServer>> start(Agent& agent, const std::string& socket);
  ~ApiServer();  // stops serving and removes the socket
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

 private:
  ApiServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string socket_;
};

// HTTP status and error code word of an agent error (the table of docs/agent-api.md).
std::pair<int, std::string> httpStatusOf(const Error& e);

}  // namespace membrane::agent
