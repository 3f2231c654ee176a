// SPDX-License-Identifier: Apache-2.0
// Reading what the datapath reports: flow events (ring buffer), conntrack entries and the
// per-CPU metrics, plus names for the shared enums.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/abi.h"
#include "dataplane/map.h"
#include "dataplane/result.h"

struct ring_buffer;

namespace membrane::dataplane {

std::string_view dropReasonName(uint8_t reason);  // Hubble's DropReason names
std::string_view verdictName(uint8_t verdict);
std::string_view ctStatusName(uint8_t status);
std::string_view matchTypeName(uint8_t match_type);
// One line: "egress FORWARDED 10.0.0.1:40000 -> 10.0.0.2:80 TCP SYN id 1001 -> 1002 ...".
std::string formatFlowEvent(const FlowEvent& ev);

// Consumes membrane_events. Not thread-safe; one reader per ring buffer.
class EventReader {
 public:
  using Callback = std::function<void(const FlowEvent&)>;
  static Result<std::unique_ptr<EventReader>> create(int ringbuf_fd);
  ~EventReader();
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  // Waits up to timeout_ms for events, then delivers all available ones. Returns the count.
  Result<int> poll(int timeout_ms, const Callback& fn);
  // Delivers what is available without waiting.
  Result<int> consume(const Callback& fn);
  // Convenience: everything available now.
  Result<std::vector<FlowEvent>> drain();

 private:
  EventReader() = default;
  static int onSample(void* ctx, void* data, size_t size);

  ring_buffer* rb_ = nullptr;
  const Callback* current_ = nullptr;
  uint64_t malformed_ = 0;
};

struct CtRecord {
  CtTuple tuple;
  CtEntry entry;
};
Result<std::vector<CtRecord>> readConntrack(const RawMap& ct);
// Deletes entries whose deadline passed (the datapath only refreshes, the agent collects).
// `now_ns` is CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns(). Returns the count removed.
Result<size_t> collectExpiredConntrack(RawMap& ct, uint64_t now_ns);
uint64_t monotonicNowNs();

struct MetricsCounter {
  uint8_t direction = 0;  // MEMBRANE_DIR_*
  uint8_t reason = 0;     // 0 = forwarded
  uint64_t packets = 0;
  uint64_t bytes = 0;
};
// Non-zero counters summed over CPUs, from the membrane_metrics fd.
Result<std::vector<MetricsCounter>> readMetrics(int metrics_fd);
// One counter (0 if never hit).
MetricsCounter findMetric(const std::vector<MetricsCounter>& all, uint8_t direction,
                          uint8_t reason);

}  // namespace membrane::dataplane
