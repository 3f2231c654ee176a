// SPDX-License-Identifier: Apache-2.0
// flows_bench (root): the flow pipeline's costs, each against a baseline measured in the
// same run (docs/observe.md, "Performance"):
//  1. decode: events consumed from the real ring buffer and decoded into the flow ring
//     (FlowBatcher: decode, count, batch append) on one core, against raw consumption of
//     the same ring (a callback that only counts). The ring is filled by the real
//     from-container program (BPF_PROG_TEST_RUN, trace all) before each timed drain, so
//     the producer's speed does not enter the figure.
//  2. GetFlows with a filter over a full ring (4,095 flows), through the real gRPC server
//     on a unix socket, against GetFlows without a filter.
//  3. the datapath's per-packet cost with flow events on (trace all) vs off.
// MEMBRANE_BENCH_QUICK=1 runs fewer rounds.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "agent/flows.h"
#include "agent/metrics.h"
#include "agent/observer_server.h"
#include "bench/bpf/bench_common.h"
#include "dataplane/datapath.h"
#include "dataplane/ipcache_writer.h"
#include "dataplane/observe.h"
#include "dataplane/packet.h"
#include "dataplane/policy_writer.h"
#include "observer/observer.grpc.pb.h"

namespace membrane::agent {
namespace {

using dataplane::bench::die;
using dataplane::bench::must;
namespace dp = membrane::dataplane;

constexpr uint32_t kPod = dp::ipv4Addr(10, 0, 0, 1);
constexpr uint32_t kPeer = dp::ipv4Addr(10, 0, 1, 1);
constexpr uint32_t kFill = 400000;  // events per fill; the ring holds 32 MiB / 72 B

double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::unique_ptr<dp::Datapath> load(uint8_t trace) {
  dp::DatapathConfig cfg;
  cfg.trace_forward = trace;
  cfg.event_wakeup = false;
  cfg.events_bytes = 32 * 1024 * 1024;
  cfg.ipcache_size = 1024;
  cfg.ct_size = 65536;
  auto d = must(dp::Datapath::load(cfg), "load datapath");
  dp::EndpointWriter eps(d->endpoints());
  must(eps.apply({{kPod, {.endpoint_id = 1, .identity = 1001, .ifindex = 0}}}), "endpoints");
  dp::IpcacheWriter ipc(d->ipcache());
  dp::IpcacheState s;
  s[{.addr = kPeer, .len = 32}] = {.identity = 2001};
  s[{.addr = kPod, .len = 32}] = {.identity = 1001};
  must(ipc.apply(s), "ipcache");
  dp::PolicyWriter pw(d->policyStore());
  must(pw.apply(1, dp::bench::policyOf(10, 2001, 80)), "policy");
  return d;
}

std::vector<uint8_t> ackPacket() {
  return dp::buildIpv4Frame({.saddr = kPod,
                             .daddr = kPeer,
                             .protocol = 6,
                             .sport = 40000,
                             .dport = 80,
                             .tcp_flags = dp::kTcpAck});
}

// Fills the ring with kFill events, then times one drain with `fn`. Events/s.
double drain(dp::Datapath& d, dp::EventReader& r, const std::vector<uint8_t>& pkt,
             const dp::EventReader::Callback& fn, uint64_t& consumed) {
  must(dp::testRunTc(d.programFd(dp::Program::FromContainer), pkt, kFill), "fill");
  consumed = 0;
  const auto t0 = std::chrono::steady_clock::now();
  int n = 0;
  do {
    n = must(r.consume(fn), "consume");
  } while (n > 0);
  return static_cast<double>(consumed) / seconds(t0);
}

void decodeTable(int rounds) {
  auto d = load(MEMBRANE_TRACE_ALL);
  auto reader = must(dp::EventReader::create(d->eventsFd()), "ring buffer");
  const auto pkt = ackPacket();
  FlowRing ring(4095);
  ring.publish(std::make_shared<FlowContext>());
  FlowStats stats;
  FlowBatcher batcher(ring, &stats);
  uint64_t consumed = 0;
  const dp::EventReader::Callback raw = [&](const dp::FlowEvent&) { ++consumed; };
  const dp::EventReader::Callback decode = [&](const dp::FlowEvent& ev) {
    batcher.add(ev);
    ++consumed;
  };
  std::vector<double> raw_rate, dec_rate;
  for (int i = 0; i < rounds; ++i) {
    raw_rate.push_back(drain(*d, *reader, pkt, raw, consumed));
    batcher.begin();
    dec_rate.push_back(drain(*d, *reader, pkt, decode, consumed));
    batcher.flush();
  }
  std::sort(raw_rate.begin(), raw_rate.end());
  std::sort(dec_rate.begin(), dec_rate.end());
  const double r = raw_rate[raw_rate.size() / 2], dd = dec_rate[dec_rate.size() / 2];
  std::printf("decode: %u events per drain, median of %d, lost %llu\n", kFill, rounds,
              static_cast<unsigned long long>(d->eventsLost()));
  std::printf("  %-34s %12.0f events/s\n", "raw ring-buffer consumption", r);
  std::printf("  %-34s %12.0f events/s  (%.2f of raw, %.1f ns/event added)\n",
              "decoded into the flow ring", dd, dd / r, 1e9 / dd - 1e9 / r);
  std::printf("  flows in ring %llu, seen %llu\n", static_cast<unsigned long long>(ring.size()),
              static_cast<unsigned long long>(ring.seen()));
}

// A full ring of varied flows (100 pods, every 8th a drop) with names.
void fillRing(FlowRing& ring) {
  auto ctx = std::make_shared<FlowContext>();
  ctx->node_name = "node-1";
  for (uint32_t i = 0; i < 100; ++i) {
    ctx->pods[kPod + i] = {.namespace_ = "default", .name = "web-" + std::to_string(i)};
    ctx->identities[1000 + i] = {.namespace_ = "default",
                                 .labels = {"k8s:app=web" + std::to_string(i % 10)}};
  }
  ring.publish(ctx);
  FlowBatcher b(ring, nullptr);
  b.begin();
  for (uint32_t i = 0; i < 4095; ++i) {
    dp::FlowEvent ev{};
    ev.type = MEMBRANE_EVENT_FLOW;
    ev.verdict = i % 8 == 0 ? MEMBRANE_VERDICT_DROPPED : MEMBRANE_VERDICT_FORWARDED;
    ev.drop_reason = i % 8 == 0 ? MEMBRANE_DROP_POLICY : 0;
    ev.direction = MEMBRANE_DIR_INGRESS;
    ev.saddr = htonl(kPod + (i * 7) % 100);
    ev.daddr = htonl(kPod + i % 100);
    ev.src_identity = 1000 + (i * 7) % 100;
    ev.dst_identity = 1000 + i % 100;
    ev.protocol = 6;
    ev.sport = htons(static_cast<uint16_t>(30000 + i));
    ev.dport = htons(8080);
    ev.tcp_flags = 0x02;
    ev.eth_proto = htons(0x0800);
    b.add(ev);
  }
  b.flush();
}

void getFlowsTable(int rounds) {
  FlowRing ring(4095);
  fillRing(ring);
  const std::string sock = "/tmp/membrane-flows-bench-" + std::to_string(getpid()) + ".sock";
  auto server =
      must(ObserverServer::start(ring, {.socket = sock, .node_name = "node-1"}), "observer");
  auto stub = observer::Observer::NewStub(
      grpc::CreateChannel("unix:" + sock, grpc::InsecureChannelCredentials()));
  auto run = [&](const observer::GetFlowsRequest& req, size_t& got) {
    std::vector<double> t;
    for (int i = 0; i < rounds; ++i) {
      grpc::ClientContext ctx;
      const auto t0 = std::chrono::steady_clock::now();
      auto r = stub->GetFlows(&ctx, req);
      observer::GetFlowsResponse resp;
      got = 0;
      while (r->Read(&resp)) ++got;
      if (auto s = r->Finish(); !s.ok()) {
        std::fprintf(stderr, "GetFlows: %s\n", s.error_message().c_str());
        std::exit(1);
      }
      t.push_back(seconds(t0) * 1e3);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  observer::GetFlowsRequest all;
  observer::GetFlowsRequest filtered;
  auto* f = filtered.add_whitelist();
  f->add_destination_pod("default/web-1");  // web-1, web-10..19: 11 of 100 pods
  f->add_verdict(flow::DROPPED);
  size_t n_all = 0, n_filtered = 0;
  const double ms_all = run(all, n_all);
  const double ms_filtered = run(filtered, n_filtered);
  std::printf("\nGetFlows over a full ring (4,095 flows), gRPC on a unix socket, median of %d\n",
              rounds);
  std::printf("  %-40s %8.2f ms  (%zu flows sent, %.0f ns/flow in ring)\n", "no filter", ms_all,
              n_all, ms_all * 1e6 / 4095);
  std::printf("  %-40s %8.2f ms  (%zu flows sent, %.0f ns/flow in ring, %.2f of no filter)\n",
              "--to-pod default/web-1 --verdict DROPPED", ms_filtered, n_filtered,
              ms_filtered * 1e6 / 4095, ms_filtered / ms_all);
}

double nsPerPacket(int fd, const std::vector<uint8_t>& pkt, uint32_t repeat) {
  std::vector<double> v;
  for (int i = 0; i < 3; ++i) v.push_back(must(dp::testRunTc(fd, pkt, repeat), "run").duration_ns);
  std::sort(v.begin(), v.end());
  return v[1];
}

void eventsCostTable(uint32_t repeat) {
  const auto pkt = ackPacket();
  auto off = load(MEMBRANE_TRACE_NONE);
  auto on = load(MEMBRANE_TRACE_ALL);
  auto reader = must(dp::EventReader::create(on->eventsFd()), "ring buffer");
  uint64_t n = 0;
  const dp::EventReader::Callback count = [&](const dp::FlowEvent&) { ++n; };
  // Chunks the ring holds; drained between chunks so that every packet writes its event.
  double on_ns = 0;
  const uint32_t chunk = std::min<uint32_t>(repeat, kFill);
  for (int i = 0; i < 3; ++i) {
    const double ns =
        must(dp::testRunTc(on->programFd(dp::Program::FromContainer), pkt, chunk), "run")
            .duration_ns;
    while (must(reader->consume(count), "consume") > 0) {
    }
    on_ns = i == 0 ? ns : std::min(on_ns, ns);
  }
  const double off_ns = nsPerPacket(off->programFd(dp::Program::FromContainer), pkt, chunk);
  std::printf("\ndatapath, established TCP leaving the pod, BPF_PROG_TEST_RUN x %u\n", chunk);
  std::printf("  %-34s %8.1f ns/pkt\n", "flow events off (trace none)", off_ns);
  std::printf("  %-34s %8.1f ns/pkt  (%.2f of off; %llu events read, lost %llu)\n",
              "flow events on (trace all)", on_ns, on_ns / off_ns,
              static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(on->eventsLost()));
}

}  // namespace
}  // namespace membrane::agent

int main() {
  if (geteuid() != 0) {
    std::fprintf(stderr, "flows_bench: needs root (BPF)\n");
    return 2;
  }
  const bool quick = membrane::dataplane::bench::quick();
  membrane::agent::decodeTable(quick ? 3 : 7);
  membrane::agent::getFlowsTable(quick ? 5 : 21);
  membrane::agent::eventsCostTable(quick ? 100000 : 400000);
  return 0;
}
