// SPDX-License-Identifier: Apache-2.0
// The bridge between the proofs and the kernel: for random clusters, policies and flows, the
// BPF program's verdict on a real packet equals model::Engine::evaluate() (side by side) and
// the compiled map lookup. The endpoint's compiled state and its node's ipcache are written
// by the dataplane writers, exactly as the agent does.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>

#include "model/engine.h"
#include "tests/bpf/bpf_fixture.h"
#include "tests/support/cluster_gen.h"

namespace membrane::dataplane::testing {
namespace {

class BpfClusterPropertyTest : public BpfTest {};

TEST_F(BpfClusterPropertyTest, BpfVerdictEqualsEvaluateOnRandomClusters) {
  const bool ok = rc::check("BPF verdict == evaluate == compiled lookup", [this] {
    const auto g = *membrane::testing::genCluster();
    auto loaded = membrane::testing::loadGenerated(g);
    const model::Cluster& c = loaded.cluster;
    model::Engine engine(c);
    for (int i = 0; i < 8; ++i) {
      const model::Flow f = *membrane::testing::genFlow(c);
      if (f.src.pod && f.dst.pod && *f.src.pod == *f.dst.pod) continue;
      const model::Verdict v = engine.evaluate(f);
      // Each side that is a pod: install that pod as the local endpoint on its node.
      for (model::Direction dir : {model::Direction::Egress, model::Direction::Ingress}) {
        const bool egress = dir == model::Direction::Egress;
        const auto& local = egress ? f.src : f.dst;
        if (!local.pod) continue;
        const model::Pod& pod = c.pods[*local.pod];
        IpcacheState ipc;
        for (const auto& [cidr, id] : engine.ipcache(pod.node_name)) {
          ipc[{.addr = cidr.addr, .len = cidr.len}] = {.identity = id};
        }
        RC_ASSERT(ipcache_->apply(ipc).ok());
        RC_ASSERT(
            endpoints_
                ->apply({{*pod.ip,
                          {.endpoint_id = kEndpointId, .identity = pod.identity, .ifindex = 1}}})
                .ok());
        const model::MapState st = engine.compile(*local.pod);
        RC_ASSERT(policy_->apply(kEndpointId, st).ok());
        (void)drainEvents();
        PacketSpec p{.saddr = f.src.ip,
                     .daddr = f.dst.ip,
                     .protocol = f.protocol,
                     .sport = static_cast<uint16_t>(30000 + i),
                     .dport = f.port,
                     .icmp_type = static_cast<uint8_t>(f.port),
                     .icmp_id = static_cast<uint16_t>(i)};
        auto r =
            dp_->testRun(egress ? Program::FromContainer : Program::ToContainer, buildIpv4Frame(p));
        RC_ASSERT(r.ok());
        const model::SideDecision& d = egress ? v.egress : v.ingress;
        RC_LOG() << "flow " << model::formatIpv4(f.src.ip) << " -> " << model::formatIpv4(f.dst.ip)
                 << " proto " << int(f.protocol) << " port " << f.port << " side "
                 << model::directionName(dir) << " model allowed=" << d.allowed
                 << " bpf retval=" << r->retval << "\n";
        RC_ASSERT((r->retval == kTcOk) == d.allowed);
        // L7 fails closed: no proxy is registered, so an L7-restricted side drops with its
        // own reason; the compiled entry is the redirect.
        auto evs = events_->drain();
        RC_ASSERT(evs.ok());
        const bool proxy_drop = std::any_of(evs->begin(), evs->end(), [](const FlowEvent& ev) {
          return ev.drop_reason == MEMBRANE_DROP_PROXY_LOOKUP_FAILED;
        });
        RC_ASSERT(proxy_drop == d.l7_restricted);
        const model::MapLookup hit =
            model::lookupMapState(st, d.peer_identity, dir, f.protocol, f.port);
        RC_ASSERT((hit.found && hit.value.verdict == model::EntryVerdict::Allow) == d.allowed);
        RC_ASSERT((hit.found && hit.value.verdict == model::EntryVerdict::Redirect) ==
                  d.l7_restricted);
        // Each flow is new: forget the connection it created.
        RC_ASSERT(clearConntrack());
      }
    }
  });
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace membrane::dataplane::testing
