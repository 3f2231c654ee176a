// SPDX-License-Identifier: Apache-2.0
// The underlay graph instantiated in ns-3: one ns-3 node per vertex, a point-to-point link
// (data rate, delay, drop-tail queue, MTU) per edge, the internet stack everywhere and the
// graph's shortest paths as static host routes. Hosts exchange UDP datagrams (port 4789:
// the VXLAN port; native packets use the same carrier with their own size, see send()).
// ns-3's simulator is process-global: one Network at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "sim/ns3/graph.h"

namespace membrane::sim::ns3sim {

class Network {
 public:
  // Sets ns-3's random seed/run (the run is deterministic for a seed) and builds the network.
  static std::unique_ptr<Network> create(const UnderlayGraph& g, uint32_t seed);
  ~Network();  // Simulator::Destroy
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // Sends a UDP datagram with `payload` bytes (the IP packet is payload + 28) from host
  // `from` to host `to`; `arrived(id)` runs when it reaches `to` (not when a queue drops it).
  void send(size_t from, size_t to, uint32_t payload, uint64_t id);
  void onArrival(std::function<void(size_t host, uint64_t id)> f);

  // Simulated time, scheduling and running until no event is left.
  static uint64_t nowNs();
  static void schedule(uint64_t delay_ns, std::function<void()> f);
  static void run();

  uint64_t queueDrops() const;
  uint64_t datagramsSent() const;

  struct Impl;

 private:
  explicit Network(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace membrane::sim::ns3sim
