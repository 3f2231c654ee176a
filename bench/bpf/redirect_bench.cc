// SPDX-License-Identifier: Apache-2.0
// redirect_bench (root): what L7 redirects cost on the leaving-the-pod path, under
// BPF_PROG_TEST_RUN, each as a ratio to the empty tc program measured in the same run
// (issue 16: "the cost added to non-L7 flows by the redirect check, flat is the goal").
// Per policy size (10 / 1,000 / 10,000 entries) and flow (new / established):
//   plain     a non-L7 flow, no redirect entry anywhere in the policy;
//   +l7 map   the same flow with 1,000 redirect entries (other peers and ports) in the same
//             policy and the proxy port registered LISTENING;
//   l7 flow   the flow's own entry is the redirect (proxy check + mark per packet).
// The "+l7 map / plain" column is the cost a non-L7 flow pays for L7 rules elsewhere.
// MEMBRANE_BENCH_QUICK=1 uses 100,000 repetitions instead of 1,000,000.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/bpf/bench_common.h"
#include "dataplane/datapath.h"
#include "dataplane/ipcache_writer.h"
#include "dataplane/packet.h"
#include "dataplane/policy_writer.h"
#include "dataplane/proxy_writer.h"

namespace membrane::dataplane {
namespace {

using bench::must;

constexpr uint32_t kPod = ipv4Addr(10, 0, 0, 1);
constexpr uint32_t kPeer = ipv4Addr(10, 0, 1, 1);
constexpr uint16_t kEndpoint = 1;
constexpr model::IdentityId kPeerId = 2001;
constexpr uint16_t kPort = 80;
constexpr uint16_t kProxyPort = 15001;

enum class Variant { Plain, WithL7Entries, L7Flow };

model::MapState policy(size_t n, Variant v) {
  model::MapState s = bench::policyOf(n, kPeerId, kPort);
  const model::MapValue redirect{.verdict = model::EntryVerdict::Redirect,
                                 .proxy_port = kProxyPort,
                                 .precedence = model::kPrecedenceRedirectBase | 154,
                                 .cookie = 1};
  if (v == Variant::L7Flow) {
    for (auto& [k, val] : s.entries) {
      if (k.identity == kPeerId && k.port == kPort) val = redirect;
    }
  }
  if (v == Variant::WithL7Entries) {
    std::mt19937 rng(11);
    for (size_t added = 0; added < 1000;) {
      model::MapKey k{.identity = static_cast<model::IdentityId>(60000 + rng() % 50000),
                      .direction = model::Direction::Egress,
                      .protocol = 6,
                      .port = static_cast<uint16_t>(1024 + rng() % 60000),
                      .prefix_len = 24};
      if (s.entries.emplace(k, redirect).second) ++added;
    }
  }
  return s;
}

double nsPerPacket(int fd, const std::vector<uint8_t>& pkt, uint32_t repeat) {
  std::vector<double> v;
  for (int i = 0; i < 3; ++i) v.push_back(must(testRunTc(fd, pkt, repeat), "test run").duration_ns);
  std::sort(v.begin(), v.end());
  return v[1];
}

// ns/packet of the from-container program for one variant.
double measure(size_t rules, Variant v, bool new_flow, const std::vector<uint8_t>& pkt,
               uint32_t repeat) {
  DatapathConfig cfg;
  cfg.ct_size = 65536;
  if (new_flow) cfg.ct_timeout_tcp_syn_s = 0;  // every SYN takes the NEW path (bpf_bench)
  auto dp = must(Datapath::load(cfg), "load datapath");
  EndpointWriter eps(dp->endpoints());
  must(eps.apply({{kPod, {.endpoint_id = kEndpoint, .identity = 1001, .ifindex = 0}}}), "eps");
  IpcacheWriter ipc(dp->ipcache());
  must(ipc.apply({{{.addr = kPeer, .len = 32}, {.identity = kPeerId}},
                  {{.addr = kPod, .len = 32}, {.identity = 1001}}}),
       "ipcache");
  PolicyWriter pw(dp->policyStore());
  must(pw.apply(kEndpoint, policy(rules, v)), "policy");
  if (v != Variant::Plain) {
    ProxyPortWriter ppw(dp->proxyPorts());
    must(ppw.apply({{kProxyPort, {.listening = true}}}), "proxy port");
  }
  const int fd = dp->programFd(Program::FromContainer);
  const auto check = must(testRunTc(fd, pkt, 1), "verdict");
  if (check.retval != 0) {
    std::fprintf(stderr, "redirect_bench: the flow was dropped (retval %d)\n", check.retval);
    std::exit(1);
  }
  // Established: the first ACK above created the entry; every repetition after it hits.
  return nsPerPacket(fd, pkt, repeat);
}

}  // namespace
}  // namespace membrane::dataplane

int main() {
  using namespace membrane::dataplane;  // NOLINT(google-build-using-namespace)
  const uint32_t repeat = bench::quick() ? 100000 : 1000000;
  auto base = must(BaselineProgram::load(), "load baseline");
  const PacketSpec syn{.saddr = kPod,
                       .daddr = kPeer,
                       .protocol = 6,
                       .sport = 40000,
                       .dport = kPort,
                       .tcp_flags = kTcpSyn};
  PacketSpec ack = syn;
  ack.tcp_flags = kTcpAck;
  const auto syn_pkt = buildIpv4Frame(syn);
  const auto ack_pkt = buildIpv4Frame(ack);
  std::printf("L7 redirect cost, leaving-the-pod path, BPF_PROG_TEST_RUN, repeat %u, median of 3\n",
              repeat);
  std::printf("%-6s %-12s %9s %9s %9s %9s %7s %7s %7s %9s\n", "rules", "flow", "empty", "plain",
              "+l7 map", "l7 flow", "plain", "+l7map", "l7flow", "+l7/plain");
  for (size_t rules : {size_t{10}, size_t{1000}, size_t{10000}}) {
    for (bool new_flow : {true, false}) {
      const auto& pkt = new_flow ? syn_pkt : ack_pkt;
      const double empty = nsPerPacket(base->fd(), pkt, repeat);
      const double plain = measure(rules, Variant::Plain, new_flow, pkt, repeat);
      const double with = measure(rules, Variant::WithL7Entries, new_flow, pkt, repeat);
      const double l7 = measure(rules, Variant::L7Flow, new_flow, pkt, repeat);
      std::printf("%-6zu %-12s %9.1f %9.1f %9.1f %9.1f %7.2f %7.2f %7.2f %9.2f\n", rules,
                  new_flow ? "new" : "established", empty, plain, with, l7, plain / empty,
                  with / empty, l7 / empty, with / plain);
    }
  }
  return 0;
}
