// SPDX-License-Identifier: Apache-2.0
// bpf_bench: cost of the leaving-the-pod path per packet (new flow / established flow) with
// policy maps of 10 / 1,000 / 10,000 entries and ipcaches of 10 / 100,000 prefixes, each as
// a ratio to the empty tc program measured in the same run; then ring-buffer event
// throughput. MEMBRANE_BENCH_QUICK=1 uses 100,000 repetitions instead of 1,000,000.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/bpf/bench_common.h"
#include "dataplane/datapath.h"
#include "dataplane/ipcache_writer.h"
#include "dataplane/observe.h"
#include "dataplane/packet.h"
#include "dataplane/policy_writer.h"

namespace membrane::dataplane {
namespace {

using bench::die;
using bench::must;

constexpr uint32_t kPod = ipv4Addr(10, 0, 0, 1);
constexpr uint32_t kPeer = ipv4Addr(10, 0, 1, 1);
constexpr uint16_t kEndpoint = 1;
constexpr model::IdentityId kPeerId = 2001;

IpcacheState ipcacheOf(size_t n) {
  IpcacheState s;
  s[{.addr = kPeer, .len = 32}] = {.identity = kPeerId};
  s[{.addr = kPod, .len = 32}] = {.identity = 1001};
  std::mt19937 rng(7);
  while (s.size() < n) {
    const uint8_t len = rng() % 4 == 0 ? 24 : 32;
    const uint32_t addr = (ipv4Addr(10, 0, 0, 0) | (rng() & 0x00FFFFFF)) & (~0u << (32 - len));
    if ((addr >> 8) == (kPeer >> 8) || (addr >> 8) == (kPod >> 8)) continue;
    s[{.addr = addr, .len = len}] = {.identity = 256 + static_cast<uint32_t>(rng() % 50000)};
  }
  return s;
}

// Median of three runs of `repeat` repetitions, ns per packet.
double nsPerPacket(int prog_fd, const std::vector<uint8_t>& pkt, uint32_t repeat) {
  std::vector<double> v;
  for (int i = 0; i < 3; ++i)
    v.push_back(must(testRunTc(prog_fd, pkt, repeat), "test run").duration_ns);
  std::sort(v.begin(), v.end());
  return v[1];
}

std::unique_ptr<Datapath> loadWith(bool new_flows, uint8_t trace, bool wakeup, bool cache = true,
                                   uint8_t profile_stop = 0) {
  DatapathConfig cfg;
  cfg.profile_stop = profile_stop;
  cfg.policy_cache = cache;
  cfg.trace_forward = trace;
  cfg.event_wakeup = wakeup;
  cfg.ipcache_size = 131072;
  cfg.ct_size = 65536;
  // New-flow runs: every SYN finds its entry already expired, so each repetition takes the
  // full NEW path (lookup miss, policy, CT create) although test_run reuses one packet.
  if (new_flows) cfg.ct_timeout_tcp_syn_s = 0;
  return must(Datapath::load(cfg), "load datapath");
}

void setup(Datapath& dp, size_t policy_entries, size_t prefixes) {
  EndpointWriter eps(dp.endpoints());
  must(eps.apply({{kPod, {.endpoint_id = kEndpoint, .identity = 1001, .ifindex = 0}}}), "eps");
  IpcacheWriter ipc(dp.ipcache());
  must(ipc.apply(ipcacheOf(prefixes)), "ipcache");
  PolicyWriter pw(dp.policyStore());
  must(pw.apply(kEndpoint, bench::policyOf(policy_entries, kPeerId, 80)), "policy");
}

void pathTable(uint32_t repeat) {
  auto base = must(BaselineProgram::load(), "load baseline");
  const PacketSpec syn{.saddr = kPod,
                       .daddr = kPeer,
                       .protocol = 6,
                       .sport = 40000,
                       .dport = 80,
                       .tcp_flags = kTcpSyn};
  PacketSpec ack = syn;
  ack.tcp_flags = kTcpAck;
  const auto syn_pkt = buildIpv4Frame(syn);
  const auto ack_pkt = buildIpv4Frame(ack);

  std::printf("leaving-the-pod path, BPF_PROG_TEST_RUN, repeat %u, median of 3\n", repeat);
  std::printf("%-6s %-8s %-12s %-6s %9s %9s %7s\n", "rules", "prefixes", "flow", "cache", "ns/pkt",
              "empty", "ratio");
  for (size_t prefixes : {size_t{10}, size_t{100000}}) {
    for (size_t rules : {size_t{10}, size_t{1000}, size_t{10000}}) {
      for (auto [new_flow, cache] : {std::pair{true, false}, std::pair{true, true},
                                     std::pair{false, false}, std::pair{false, true}}) {
        auto dp = loadWith(new_flow, MEMBRANE_TRACE_NONE, true, cache);
        setup(*dp, rules, prefixes);
        const auto& pkt = new_flow ? syn_pkt : ack_pkt;
        const int fd = dp->programFd(Program::FromContainer);
        auto check = must(testRunTc(fd, pkt, 1), "verdict");
        if (check.retval != 0) {
          std::fprintf(stderr, "bpf_bench: flow was dropped (retval %d)\n", check.retval);
          std::exit(1);
        }
        const double ns = nsPerPacket(fd, pkt, repeat);
        const double empty = nsPerPacket(base->fd(), pkt, repeat);
        std::printf("%-6zu %-8zu %-12s %-6s %9.1f %9.1f %7.2f\n", rules, prefixes,
                    new_flow ? "new" : "established", cache ? "hit" : "off", ns, empty, ns / empty);
      }
    }
  }
}

// Verifier and JIT sizes of the from-container program, as loaded.
void printProgramSize(int fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return;
  std::printf("from-container: %u verified insns, %u xlated insns, %u JIT bytes\n",
              info.verified_insns, info.xlated_prog_len / 8, info.jited_prog_len);
}

// ns/packet of test runs of `repeat` repetitions in chunks, draining the ring between chunks
// so every record is written (not the ring-full path); median of 3.
double nsWithEvents(Datapath& dp, const std::vector<uint8_t>& pkt, uint32_t repeat) {
  auto reader = must(EventReader::create(dp.eventsFd()), "ring buffer");
  const int fd = dp.programFd(Program::FromContainer);
  std::vector<double> v;
  for (int i = 0; i < 3; ++i) {
    double total = 0;
    for (uint32_t left = repeat; left > 0;) {
      const uint32_t n = std::min<uint32_t>(left, 20000);
      total += must(testRunTc(fd, pkt, n), "test run").duration_ns * double(n);
      must(reader->drain(), "drain");
      left -= n;
    }
    v.push_back(total / repeat);
  }
  std::sort(v.begin(), v.end());
  return v[1];
}

// The conntrack entry the full pipeline leaves after accepting `ack`'s flow under the current
// revision, written from userspace: a program stopped before its CT write never creates it,
// and the established column must measure a hit at every stage.
void establish(Datapath& dp, const PacketSpec& ack) {
  auto ct = must(TypedMap<CtTuple, CtEntry>::wrap(dp.conntrack()), "conntrack");
  const CtTuple t{.daddr = htonl(ack.daddr),
                  .saddr = htonl(ack.saddr),
                  .dport = htons(ack.dport),
                  .sport = htons(ack.sport),
                  .nexthdr = ack.protocol,
                  .flags = MEMBRANE_CT_EGRESS};
  CtEntry e{};
  e.expires_ns = monotonicNowNs() + 3600ull * 1000000000ull;
  e.src_identity = 1001;
  e.dst_identity = kPeerId;
  e.cookie = 1;
  e.flags = MEMBRANE_CT_F_SEEN_NON_SYN;
  e.match_type = MEMBRANE_MATCH_L3_L4;
  e.prefix_len = 24;
  e.revision = must(dp.revision(), "revision");
  must(ct.update(t, e), "establish");
}

// Per-stage costs: the program stopped after stage N (cfg_profile_stop) minus stopped after
// N-1, 10,000 policy entries and 10 prefixes; "events" = trace-all with a drained ring minus
// the whole pipeline without events.
void profileTable(uint32_t repeat) {
  static const char* const kStage[] = {"(empty tc)", "parse",  "endpoint", "ct lookup",
                                       "ipcache",    "policy", "ct write", "metrics"};
  auto base = must(BaselineProgram::load(), "load baseline");
  const PacketSpec syn{.saddr = kPod,
                       .daddr = kPeer,
                       .protocol = 6,
                       .sport = 40001,
                       .dport = 80,
                       .tcp_flags = kTcpSyn};
  PacketSpec ack = syn;
  ack.sport = 40000;
  ack.tcp_flags = kTcpAck;
  const auto syn_pkt = buildIpv4Frame(syn);
  const auto ack_pkt = buildIpv4Frame(ack);
  std::printf("per-stage cost, leaving the pod, 10,000 rules, 10 prefixes, repeat %u\n", repeat);
  std::printf("%-12s %10s %10s %10s %10s\n", "stage", "new cum", "new delta", "est cum",
              "est delta");
  double prev_new = nsPerPacket(base->fd(), syn_pkt, repeat);
  double prev_est = nsPerPacket(base->fd(), ack_pkt, repeat);
  std::printf("%-12s %10.1f %10s %10.1f %10s\n", kStage[0], prev_new, "", prev_est, "");
  for (uint8_t stop = 1; stop <= 8; ++stop) {
    auto dp = loadWith(true, MEMBRANE_TRACE_NONE, true, true, stop == 8 ? 0 : stop);
    setup(*dp, 10000, 10);
    const int fd = dp->programFd(Program::FromContainer);
    if (stop == 8) printProgramSize(fd);
    establish(*dp, ack);
    must(testRunTc(fd, syn_pkt, 1), "warm");
    const double n = nsPerPacket(fd, syn_pkt, repeat);
    const double e = nsPerPacket(fd, ack_pkt, repeat);
    std::printf("%-12s %10.1f %10.1f %10.1f %10.1f\n", stop == 8 ? "(all, no ev)" : kStage[stop], n,
                n - prev_new, e, e - prev_est);
    prev_new = n;
    prev_est = e;
  }
  auto dp = loadWith(true, MEMBRANE_TRACE_ALL, false, true);
  setup(*dp, 10000, 10);
  establish(*dp, ack);
  const double n = nsWithEvents(*dp, syn_pkt, repeat);
  const double e = nsWithEvents(*dp, ack_pkt, repeat);
  std::printf("%-12s %10.1f %10.1f %10.1f %10.1f\n", "events(all)", n, n - prev_new, e,
              e - prev_est);
}

void ringbufTable(uint32_t events) {
  std::printf("\nring buffer: %u forwarded-packet events (trace all), one consumer thread\n",
              events);
  std::printf("%-22s %12s %10s %10s\n", "mode", "events/s", "consumed", "lost");
  for (bool wakeup : {true, false}) {
    auto dp = loadWith(false, MEMBRANE_TRACE_ALL, wakeup);
    setup(*dp, 10, 10);
    auto reader = must(EventReader::create(dp->eventsFd()), "ring buffer");
    const PacketSpec ack{.saddr = kPod,
                         .daddr = kPeer,
                         .protocol = 6,
                         .sport = 40000,
                         .dport = 80,
                         .tcp_flags = kTcpAck};
    const auto pkt = buildIpv4Frame(ack);
    const int fd = dp->programFd(Program::FromContainer);
    must(testRunTc(fd, pkt, 1), "warm");
    must(reader->drain(), "drain");
    std::atomic<bool> done{false};
    uint64_t consumed = 0;
    const auto start = std::chrono::steady_clock::now();
    std::thread producer([&] {
      uint32_t left = events;
      while (left > 0) {  // chunks keep the ring from overflowing between polls
        const uint32_t n = std::min<uint32_t>(left, 20000);
        must(testRunTc(fd, pkt, n), "produce");
        left -= n;
      }
      done = true;
    });
    auto count = [&](const FlowEvent&) { ++consumed; };
    while (!done.load() || consumed + dp->eventsLost() < events) {
      auto r = wakeup ? reader->poll(10, count) : reader->consume(count);
      if (!r) die("consume", r.error());
      if (done.load() && *r == 0 && consumed + dp->eventsLost() >= events) break;
    }
    producer.join();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%-22s %12.0f %10llu %10llu\n", wakeup ? "wakeup + poll" : "no-wakeup + busy",
                static_cast<double>(consumed) / s, static_cast<unsigned long long>(consumed),
                static_cast<unsigned long long>(dp->eventsLost()));
  }
}

}  // namespace
}  // namespace membrane::dataplane

int main(int argc, char** argv) {
  const std::string only = argc > 1 ? argv[1] : "";
  if (only == "--help" || argc > 2 ||
      (!only.empty() && only != "profile" && only != "paths" && only != "ringbuf")) {
    std::fprintf(stderr,
                 "usage: bpf_bench [profile|paths|ringbuf]  (root; default: all three)\n"
                 "  MEMBRANE_BENCH_QUICK=1: 100,000 repetitions instead of 1,000,000\n"
                 "exit: 0 done, 1 a step failed, 2 not root or bad usage\n");
    return only == "--help" ? 0 : 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "bpf_bench: needs root (BPF_PROG_TEST_RUN)\n");
    return 2;
  }
  const uint32_t repeat = membrane::dataplane::bench::quick() ? 100000 : 1000000;
  if (only.empty() || only == "profile") membrane::dataplane::profileTable(repeat);
  if (only.empty() || only == "paths") membrane::dataplane::pathTable(repeat);
  if (only.empty() || only == "ringbuf") membrane::dataplane::ringbufTable(repeat);
  return 0;
}
