// SPDX-License-Identifier: Apache-2.0
#include "sim/ns3/load.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace membrane::sim::ns3sim {
namespace {
constexpr uint64_t kSecond = 1'000'000'000;
constexpr uint32_t kBulkWindowBytes = 64 * 1024;
constexpr uint64_t kBulkTimeoutNs = 20'000'000;  // a segment not acknowledged in 20 ms is lost
constexpr uint8_t kAck = 0x10, kPsh = 0x08;
}  // namespace

struct LoadRunner::State {
  LoadFlow f;
  FlowStats stats;
  uint64_t t0 = 0, end = 0;
  bool tcp = false;
  // bulk
  uint64_t next_seq = 0, bytes_queued = 0;
  std::vector<uint8_t> acked;  // per segment
};

LoadRunner::LoadRunner(PodPath& path, uint32_t mss) : path_(path), mss_(mss) {}
LoadRunner::~LoadRunner() = default;

void LoadRunner::send(State& st, bool forward, uint32_t bytes, uint8_t flags,
                      std::function<void(const HopOutcome&)> done) {
  const LoadFlow& f = st.f;
  dataplane::PacketSpec p{.saddr = forward ? f.saddr : f.daddr,
                          .daddr = forward ? f.daddr : f.saddr,
                          .protocol = f.spec->protocol,
                          .sport = forward ? f.sport : f.dport,
                          .dport = forward ? f.dport : f.sport,
                          .tcp_flags = flags};
  if (p.protocol == model::kProtoICMP) {  // echo request out, echo reply back
    p.icmp_type = forward ? 8 : 0;
    p.icmp_id = f.sport;
  }
  p.payload.assign(bytes, 0);
  // Replies after the handshake are what conntrack passes without a policy lookup.
  const bool reply = !forward && !(flags & dataplane::kTcpSyn);
  path_.send(p, forward ? f.src : f.dst, forward ? f.dst : f.src, std::move(done), reply);
}

std::vector<FlowStats> LoadRunner::run(std::vector<LoadFlow> flows, const Progress& progress) {
  for (auto& f : flows) {
    auto st = std::make_unique<State>();
    st->f = f;
    st->stats.index = f.index;
    st->stats.seconds = f.spec->duration_s;
    st->tcp = f.spec->protocol == model::kProtoTCP;
    st->t0 = Network::nowNs();
    st->end = st->t0 + uint64_t{f.spec->duration_s} * kSecond;
    start(*st);
    states_.push_back(std::move(st));
  }
  if (progress) {
    progress("ns3: running " + std::to_string(flows.size()) + " traffic flow(s)");
    uint64_t end = 0;
    for (const auto& st : states_) end = std::max(end, st->end);
    reportProgress(end, std::chrono::steady_clock::now(), path_.packets(), progress);
  }
  Network::run();
  std::vector<FlowStats> out;
  for (auto& st : states_) {
    std::sort(st->stats.latency_ns.begin(), st->stats.latency_ns.end());
    out.push_back(std::move(st->stats));
  }
  states_.clear();
  return out;
}

// A line every tenth of the load's simulated duration: simulated time, pod packets, wall
// time and the rate (long runs show they are alive and how fast they go).
void LoadRunner::reportProgress(uint64_t end, std::chrono::steady_clock::time_point t0,
                                uint64_t packets0, const Progress& progress) {
  const uint64_t step = std::max<uint64_t>(1'000'000, end / 10);
  Network::schedule(step, [this, end, t0, packets0, progress] {
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const uint64_t n = path_.packets() - packets0;
    char line[160];
    std::snprintf(line, sizeof line,
                  "ns3: %.3f s simulated, %llu pod packets, %.2f s wall, %.0f packets/s",
                  double(Network::nowNs()) / 1e9, static_cast<unsigned long long>(n), wall,
                  wall > 0 ? double(n) / wall : 0.0);
    progress(line);
    if (Network::nowNs() < end) reportProgress(end, t0, packets0, progress);
  });
}

void LoadRunner::start(State& st) {
  auto go = [this, &st] {
    switch (st.f.spec->kind) {
      case TrafficKind::RequestResponse:
        requests(st);
        break;
      case TrafficKind::OnOff:
        onOff(st);
        break;
      case TrafficKind::Bulk:
        bulkSend(st);
        break;
    }
  };
  if (!st.tcp) {
    go();
    return;
  }
  // The handshake: SYN, SYN-ACK, ACK through the programs; a dropped one denies the flow
  // (every request it would have sent counts as sent and lost).
  auto denied = [&st] {
    const auto& s = *st.f.spec;
    st.stats.sent = s.kind == TrafficKind::Bulk ? 1 : uint64_t{s.rate_pps} * s.duration_s;
  };
  send(st, true, 0, dataplane::kTcpSyn, [this, &st, go, denied](const HopOutcome& a) {
    if (a.cell != Cell::Allowed) return denied();
    send(st, false, 0, dataplane::kTcpSyn | kAck, [this, &st, go, denied](const HopOutcome& b) {
      if (b.cell != Cell::Allowed) return denied();
      send(st, true, 0, kAck, [go, denied](const HopOutcome& c) {
        if (c.cell != Cell::Allowed) return denied();
        go();
      });
    });
  });
}

void LoadRunner::requests(State& st) {
  const auto& s = *st.f.spec;
  const uint64_t n = uint64_t{s.rate_pps} * s.duration_s;
  for (uint64_t i = 0; i < n; ++i) {
    Network::schedule(i * kSecond / s.rate_pps, [this, &st, &s] {
      ++st.stats.sent;
      const uint64_t t = Network::nowNs();
      send(st, true, s.size, kAck | kPsh, [this, &st, t, &s](const HopOutcome& req) {
        if (req.cell != Cell::Allowed) return;
        st.stats.bytes += s.size;
        send(st, false, s.response, kAck | kPsh, [&st, t, &s](const HopOutcome& rep) {
          if (rep.cell != Cell::Allowed) return;
          st.stats.bytes += s.response;
          ++st.stats.delivered;
          st.stats.latency_ns.push_back(rep.done_ns - t);
        });
      });
    });
  }
}

void LoadRunner::onOff(State& st) {
  const auto& s = *st.f.spec;
  const uint64_t n = uint64_t{s.rate_pps} * s.duration_s;
  const uint64_t period = uint64_t{s.on_ms + s.off_ms} * 1'000'000;
  const uint64_t on = uint64_t{s.on_ms} * 1'000'000;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t at = i * kSecond / s.rate_pps;
    if (at % period >= on) continue;
    Network::schedule(at, [this, &st, &s] {
      ++st.stats.sent;
      const uint64_t t = Network::nowNs();
      send(st, true, s.size, 0, [&st, t, &s](const HopOutcome& o) {
        if (o.cell != Cell::Allowed) return;
        ++st.stats.delivered;
        st.stats.bytes += s.size;
        st.stats.latency_ns.push_back(o.done_ns - t);
      });
    });
  }
}

// One segment; its acknowledgement (or its timeout) sends the next while the transfer lasts.
void LoadRunner::bulkSend(State& st) {
  const auto& s = *st.f.spec;
  const uint32_t window = std::max<uint32_t>(1, kBulkWindowBytes / mss_);
  // The first call opens the window; later calls replace one segment each.
  const uint32_t burst = st.next_seq == 0 ? window : 1;
  for (uint32_t k = 0; k < burst; ++k) {
    if (Network::nowNs() >= st.end || (s.size > 0 && st.bytes_queued >= s.size)) return;
    const uint64_t seq = st.next_seq++;
    st.acked.push_back(0);
    st.bytes_queued += mss_;
    ++st.stats.sent;
    const uint64_t t = Network::nowNs();
    send(st, true, mss_, kAck | kPsh, [this, &st, seq, t](const HopOutcome& o) {
      if (o.cell != Cell::Allowed) return;
      ++st.stats.delivered;
      st.stats.bytes += mss_;
      st.stats.latency_ns.push_back(o.done_ns - t);
      send(st, false, 0, kAck, [this, &st, seq](const HopOutcome& a) {
        if (a.cell != Cell::Allowed || st.acked[seq]) return;
        st.acked[seq] = 1;
        bulkSend(st);
      });
    });
    Network::schedule(kBulkTimeoutNs, [this, &st, seq] {
      if (st.acked[seq]) return;
      st.acked[seq] = 2;  // lost: its slot in the window goes to a new segment
      st.bytes_queued -= mss_;
      bulkSend(st);
    });
  }
}

}  // namespace membrane::sim::ns3sim
