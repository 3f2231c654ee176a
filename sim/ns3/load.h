// SPDX-License-Identifier: Apache-2.0
// The scenario's traffic as load in simulated time, every packet through PodPath (the BPF
// programs of both ends, the ns-3 underlay between them):
//   request-response  a request of `size` bytes every 1/rate s, answered with `response`
//                     bytes; latency is the round trip, loss the unanswered requests
//   on-off            UDP datagrams of `size` bytes at `rate`/s during `on`, silent during
//                     `off`; one-way latency, loss the datagrams not delivered
//   bulk              a TCP transfer: segments of one MSS, each acknowledged, a window of
//                     64 KiB in flight, a segment not acknowledged within the timeout lost
//                     and replaced; throughput the delivered bytes over the duration
// TCP flows open with a handshake through the programs (conntrack then carries them).
#pragma once

#include <chrono>
#include <deque>
#include <memory>

#include "sim/ns3/pod_path.h"

namespace membrane::sim::ns3sim {

struct LoadFlow {
  size_t index = 0;  // into Scenario::traffic
  const TrafficFlow* spec = nullptr;
  PodEnd src, dst;
  uint32_t saddr = 0, daddr = 0;
  uint16_t sport = 0, dport = 0;
};

class LoadRunner {
 public:
  LoadRunner(PodPath& path, uint32_t mss);
  ~LoadRunner();
  // Schedules every flow from the current simulated time and runs until all are done.
  std::vector<FlowStats> run(std::vector<LoadFlow> flows, const Progress& progress);

  struct State;

 private:
  void start(State& st);
  void reportProgress(uint64_t end, std::chrono::steady_clock::time_point t0, uint64_t packets0,
                      const Progress& progress);
  void requests(State& st);
  void onOff(State& st);
  void bulkSend(State& st);
  void send(State& st, bool forward, uint32_t bytes, uint8_t flags,
            std::function<void(const HopOutcome&)> done);

  PodPath& path_;
  uint32_t mss_;
  std::deque<std::unique_ptr<State>> states_;
};

}  // namespace membrane::sim::ns3sim
