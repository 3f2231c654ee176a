// SPDX-License-Identifier: Apache-2.0
// Prometheus metrics on /metrics (prometheus-cpp): the agent's under Cilium's names, the
// flows' under Hubble's (docs/observe.md lists them).
//
// Flow counters are plain arrays indexed by the event's small enums, written by the one
// reader thread (relaxed load + store: no lock, no allocation, no label lookup per event)
// and turned into metric families only when Prometheus scrapes.
#pragma once

#include <netinet/in.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "agent/agent.h"
#include "agent/state.h"
#include "dataplane/abi.h"

namespace membrane::agent {

class FlowStats {
 public:
  void count(const dataplane::FlowEvent& ev) {
    const bool drop = ev.verdict == MEMBRANE_VERDICT_DROPPED;
    const bool egress = ev.direction == MEMBRANE_DIR_EGRESS;
    bump(processed_[index(drop, egress, ev.verdict)]);
    if (drop) bump(drops_[ev.drop_reason * 4 + protoClass(ev.protocol)]);
    if (ev.protocol == IPPROTO_TCP) {
      for (int b = 0; b < 8; ++b) {
        if (ev.tcp_flags & (1u << b)) bump(tcp_flags_[b]);
      }
    }
    if (ev.match_type != MEMBRANE_MATCH_NONE || ev.drop_reason == MEMBRANE_DROP_POLICY) {
      const int action = drop                                        ? 1
                         : ev.verdict == MEMBRANE_VERDICT_REDIRECTED ? 2
                         : ev.verdict == MEMBRANE_VERDICT_AUDIT      ? 3
                                                                     : 0;
      bump(policy_[(egress * 8 + (ev.match_type & 7)) * 4 + action]);
    }
  }
  void lost(uint64_t n) {
    lost_.store(lost_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  // Reading (any thread).
  uint64_t processed(bool drop, bool egress, uint8_t verdict) const {
    return get(processed_[index(drop, egress, verdict)]);
  }
  uint64_t drops(uint8_t reason, int proto_class) const {
    return get(drops_[reason * 4 + proto_class]);
  }
  uint64_t tcpFlag(int bit) const { return get(tcp_flags_[bit]); }
  uint64_t policy(bool egress, uint8_t match, int action) const {
    return get(policy_[(egress * 8 + (match & 7)) * 4 + action]);
  }
  uint64_t lostEvents() const { return get(lost_); }

  static int protoClass(uint8_t p) {
    return p == IPPROTO_TCP ? 0 : p == IPPROTO_UDP ? 1 : p == IPPROTO_ICMP ? 2 : 3;
  }

 private:
  using Cell = std::atomic<uint64_t>;
  static size_t index(bool drop, bool egress, uint8_t verdict) {
    return (drop * 2 + egress) * 8 + (verdict & 7);
  }
  static void bump(Cell& c) {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  static uint64_t get(const Cell& c) { return c.load(std::memory_order_relaxed); }

  std::array<Cell, 32> processed_{};      // [drop][egress][verdict]
  std::array<Cell, 256 * 4> drops_{};     // [reason][protocol class]
  std::array<Cell, 8> tcp_flags_{};       // [bit]: FIN SYN RST PSH ACK URG ECE CWR
  std::array<Cell, 2 * 8 * 4> policy_{};  // [egress][match][forwarded, dropped, redirected, audit]
  Cell lost_{0};
};

class MetricsServer {
 public:
  // Serves /metrics on `listen` (host:port). `agent`, `stats` outlive the server.
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& listen, Agent& agent,
                                                      const FlowStats& stats);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Regenerations and their duration (Agent::onReconciled).
  void reconciled(const Agent::ReconcileOutcome& r);

  // The text a scrape returns (tests).
  std::string render() const;

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace membrane::agent
