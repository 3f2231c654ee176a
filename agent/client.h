// SPDX-License-Identifier: Apache-2.0
// A client of the agent's API (docs/agent-api.md) over its unix socket: what `membrane
// status`, `membrane endpoint` and the simulator use.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "dataplane/result.h"

namespace membrane::agent {

inline constexpr const char* kDefaultSocket = "/var/run/membrane/membrane.sock";

struct ApiReply {
  int status = 0;  // HTTP status
  nlohmann::json body;
};

// One request; an error only when the agent cannot be reached or answers no JSON.
dataplane::Result<ApiReply> apiRequest(const std::string& socket, const std::string& method,
                                       const std::string& path, const std::string& body = "");

}  // namespace membrane::agent
