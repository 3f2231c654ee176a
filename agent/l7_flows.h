// SPDX-License-Identifier: Apache-2.0
// L7 flows: one access record of membrane-proxy (a JSON line, docs/l7.md) turned into a
// Hubble flow with Type L7 and the `l7` record (HTTP method, url, code, protocol, latency),
// as Cilium turns its proxy's access log into flows. agent/l7_tail.h appends them to the
// Observer's ring next to the datapath's L3/L4 flows (docs/l7.md).
#pragma once

#include <optional>
#include <string>

#include "flow/flow.pb.h"

namespace membrane::agent {

inline constexpr int kMessageTypeAccessLog = 129;  // Cilium's monitor type for L7 records

// nullopt with `err` set when the line is not an access record (names the field).
std::optional<flow::Flow> l7FlowFromAccessRecord(const std::string& json_line,
                                                 const std::string& node_name, std::string* err);

}  // namespace membrane::agent
