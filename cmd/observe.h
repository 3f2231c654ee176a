// SPDX-License-Identifier: Apache-2.0
// `membrane observe`: hubble observe's flags and output formats against the Observer
// service of one agent or several (docs/observe.md).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "observer/observer.pb.h"

namespace membrane::cmd {

struct ObserveOptions {
  std::vector<std::string> servers;  // gRPC targets: unix:///path, unix:/path, host:port
  observer::GetFlowsRequest request;
  std::string output = "compact";  // compact | dict | json | jsonpb | table
  bool print_node = false;         // several servers: name the node of each flow
  // --etcd-* flags given: every node the store lists is read too (its published Observer).
  std::map<std::string, std::string> store_flags;
};

// Parses argv (after "observe"). On failure `error` says what (exit 2); `help` set when
// --help was asked.
std::optional<ObserveOptions> parseObserveArgs(int argc, char** argv, std::string& error,
                                               bool& help);
// "2026-12-03T16:00:00Z" (RFC 3339, fractional seconds and offsets allowed) or a duration
// before `now_ns` ("90s", "5m", "1h30m"); nullopt when neither.
std::optional<int64_t> parseTimeArg(const std::string& s, int64_t now_ns);

// Output.
void printResponse(const observer::GetFlowsResponse& r, const ObserveOptions& o, std::ostream& out);
void printTableHeader(const ObserveOptions& o, std::ostream& out);

}  // namespace membrane::cmd
