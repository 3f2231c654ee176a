// SPDX-License-Identifier: Apache-2.0
// A pod's packet through the simulated cluster: the source pod's from-container program on
// its node (BPF_PROG_TEST_RUN with that node's maps), the underlay (ns-3) when the pods sit
// on different nodes, the destination pod's to-container program on its node. Each
// program's measured run time is charged as processing delay on its node: a node runs one
// program at a time, so a busy node queues packets.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>

#include "dataplane/packet.h"
#include "sim/agents.h"
#include "sim/ns3/network.h"

namespace membrane::sim::ns3sim {

struct PodEnd {
  std::string node;  // empty: not a pod (no program of ours runs for it)
  uint32_t identity = 0;
};

struct HopOutcome {
  Cell cell = Cell::Blocked;  // Allowed, Egress (source dropped), Ingress (destination dropped)
  std::string how;            // why Blocked when no program dropped it
  uint64_t done_ns = 0;       // simulated time of the delivery or the drop
};

// The per-flow verdict cache (--verdict-cache): only for packets conntrack passes without
// a policy lookup, i.e. reply-direction packets of an accepted connection (bpf/lib/lxc.h:
// CT_REPLY returns TC_ACT_OK before any policy lookup). The first such packet of a tuple on
// a node runs the program; later ones of the same tuple and size reuse its result and
// charge its run time. verify runs the program anyway and counts differences.
enum class VerdictCache { Off, On, Verify };

class PodPath {
 public:
  // fixed_cost_ns: charge this per program run instead of the measured time (deterministic
  // timings; the verdicts are the programs' either way).
  PodPath(std::map<std::string, SimNode>& nodes, Network& net, const UnderlayGraph& g, bool overlay,
          std::optional<uint32_t> fixed_cost_ns, VerdictCache cache);

  // Sends one packet (an Ethernet frame built from spec) now; `done` runs at the simulated
  // time it is delivered or dropped by a program. A packet a link's queue drops never
  // completes (the caller counts it as lost).
  // `reply`: a reply-direction packet of an accepted connection (the cache may serve it).
  void send(const dataplane::PacketSpec& spec, const PodEnd& src, const PodEnd& dst,
            std::function<void(const HopOutcome&)> done, bool reply = false);

  uint64_t programRuns() const { return runs_; }
  uint64_t packets() const { return packets_; }  // pod packets sent
  uint64_t cacheHits() const { return cache_hits_; }
  uint64_t cacheMismatches() const { return cache_mismatches_; }
  uint64_t programNs() const { return run_ns_; }
  // Bytes on the wire of an inner IPv4 packet of `ip_len` bytes between two nodes.
  uint32_t carrierPayload(size_t ip_len) const;

 private:
  // Runs a program of `node`; returns the result and the delay until the node is done.
  std::optional<dataplane::TestRunResult> run(const std::string& node, dataplane::Program p,
                                              const std::vector<uint8_t>& frame, uint32_t mark,
                                              uint64_t* delay_ns, std::string* how,
                                              bool reply = false);
  std::optional<dataplane::TestRunResult> runProgram(const std::string& node, dataplane::Program p,
                                                     const std::vector<uint8_t>& frame,
                                                     uint32_t mark, bool reply, std::string* how);
  void ingress(std::vector<uint8_t> frame, uint32_t mark, const PodEnd& dst,
               std::function<void(const HopOutcome&)> done, bool reply);

  std::map<std::string, SimNode>& nodes_;
  Network& net_;
  const UnderlayGraph& g_;
  bool overlay_;
  std::optional<uint32_t> fixed_cost_ns_;
  std::map<std::string, uint64_t> busy_until_;
  std::unordered_map<uint64_t, std::function<void()>> in_flight_;
  uint64_t next_id_ = 1;
  uint64_t runs_ = 0, run_ns_ = 0, packets_ = 0;
  VerdictCache cache_mode_;
  // (node, program, frame) of a reply packet -> the program's result for it.
  std::map<std::tuple<std::string, int, std::vector<uint8_t>, uint32_t>, dataplane::TestRunResult>
      cache_;
  uint64_t cache_hits_ = 0, cache_mismatches_ = 0;
};

}  // namespace membrane::sim::ns3sim
