// SPDX-License-Identifier: Apache-2.0
// Request/response load over real TCP between pod namespaces, measured: what the ns3 backend
// predicts for a traffic item (`kind: request-response`), the netns backend measures on the
// veths, so the two can be reported side by side (docs/scenarios.md, "ns-3 against netns").
//
// One connection per item, opened from the source pod's namespace to the destination's
// echo server (sim/netns_probe.h): a request of `size` bytes every 1/`rate` s for
// `duration` s, each answered by the server echoing the same bytes; the latency is the
// round trip from sending the request to reading its last byte. Closed loop: a request that
// is due while the previous one is unanswered waits for it (the ns3 backend's load is open
// loop; the difference shows only when the round trip exceeds the interval).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/sim.h"

namespace membrane::sim {

struct RequestResponseLoad {
  size_t index = 0;       // into Scenario::traffic
  std::string src_netns;  // the client pod's namespace
  uint32_t dst_ip = 0;    // host order
  uint16_t port = 0;
  uint32_t rate = 1;  // requests per second
  uint32_t duration_s = 1;
  uint32_t size = 100;    // bytes per request (and per echoed answer)
  int timeout_ms = 1000;  // a request unanswered this long is lost, and so is the rest
};

// Runs every load at once (a thread each) and returns their measurements; a load whose
// connection fails delivers nothing (every request of it lost) and says why in `why`.
std::vector<FlowStats> runRequestResponse(const std::vector<RequestResponseLoad>& loads,
                                          std::vector<std::string>& why);

}  // namespace membrane::sim
