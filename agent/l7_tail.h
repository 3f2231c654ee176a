// SPDX-License-Identifier: Apache-2.0
// Follows the L7 proxy's access log (one JSON line per request, docs/l7.md) and appends each
// record to the flow ring as an L7 flow (agent/l7_flows.h), so `membrane observe` and every
// Observer client see HTTP requests beside the datapath's L3/L4 flows. Starts at the log's
// current end (requests from before the agent started are not replayed); a log that shrinks
// (rotated, truncated) is read again from its start. Lines that are not access records are
// counted and skipped.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "agent/flows.h"

namespace membrane::agent {

class AccessLogTail {
 public:
  // Polls `path` every `poll_ms`; the file need not exist yet.
  static std::unique_ptr<AccessLogTail> start(const std::string& path, const std::string& node,
                                              FlowRing& ring, int poll_ms = 100);
  ~AccessLogTail();  // stops the thread
  AccessLogTail(const AccessLogTail&) = delete;
  AccessLogTail& operator=(const AccessLogTail&) = delete;

  uint64_t appended() const { return appended_; }
  uint64_t skipped() const { return skipped_; }

 private:
  AccessLogTail(std::string path, std::string node, FlowRing& ring, int poll_ms);
  void run();
  void readNew(uint64_t& offset, std::string& partial);

  std::string path_, node_;
  FlowRing& ring_;
  int poll_ms_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> appended_{0}, skipped_{0};
  std::thread thread_;
};

}  // namespace membrane::agent
