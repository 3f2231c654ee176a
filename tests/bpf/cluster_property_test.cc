// SPDX-License-Identifier: Apache-2.0
// The bridge between the proofs and the kernel: for random clusters, policies and flows, the
// BPF program's verdict on a real packet equals model::Engine::evaluate() (side by side) and
// the compiled map lookup. The endpoint's compiled state and its node's ipcache are written
// by the dataplane writers, exactly as the agent does. Every port boundary the policies use
// (start-1, start, end, end+1) is probed. No L7 proxy is registered, so an L7-restricted
// side must be dropped with PROXY_LOOKUP_FAILED (fail closed).
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <sstream>

#include "model/engine.h"
#include "model/explain.h"
#include "tests/bpf/bpf_fixture.h"
#include "tests/support/cluster_gen.h"

namespace membrane::dataplane::testing {
namespace {

class BpfClusterPropertyTest : public BpfTest {
 protected:
  // Installs `pod` as the local endpoint on its node: ipcache, endpoint, compiled policy.
  model::MapState install(const model::Engine& engine, size_t pod);
  // Runs one probe through the side's program; "" when all views agree, else why not.
  std::string probe(const model::Engine& engine, const model::MapState& st, model::Direction dir,
                    const model::Flow& f, uint16_t sport);
};

model::MapState BpfClusterPropertyTest::install(const model::Engine& engine, size_t pod_index) {
  const model::Pod& pod = engine.cluster().pods[pod_index];
  IpcacheState ipc;
  for (const auto& [cidr, id] : engine.ipcache(pod.node_name)) {
    ipc[{.addr = cidr.addr, .len = cidr.len}] = {.identity = id};
  }
  RC_ASSERT(ipcache_->apply(ipc).ok());
  RC_ASSERT(
      endpoints_
          ->apply({{*pod.ip, {.endpoint_id = kEndpointId, .identity = pod.identity, .ifindex = 1}}})
          .ok());
  model::MapState st = engine.compile(pod_index);
  RC_ASSERT(policy_->apply(kEndpointId, st).ok());
  RC_ASSERT(clearConntrack());
  (void)drainEvents();
  return st;
}

std::string BpfClusterPropertyTest::probe(const model::Engine& engine, const model::MapState& st,
                                          model::Direction dir, const model::Flow& f,
                                          uint16_t sport) {
  const bool egress = dir == model::Direction::Egress;
  const model::Verdict v = engine.evaluate(f);
  const model::SideDecision& d = egress ? v.egress : v.ingress;
  PacketSpec p{.saddr = f.src.ip,
               .daddr = f.dst.ip,
               .protocol = f.protocol,
               .sport = sport,
               .dport = f.port,
               .icmp_type = static_cast<uint8_t>(f.port),
               .icmp_id = sport};
  auto r = dp_->testRun(egress ? Program::FromContainer : Program::ToContainer, buildIpv4Frame(p));
  if (!r.ok()) return "test-run failed: " + r.error().message();
  auto evs = events_->drain();
  if (!evs.ok()) return "cannot read events";
  const bool proxy_drop = std::any_of(evs->begin(), evs->end(), [](const FlowEvent& ev) {
    return ev.drop_reason == MEMBRANE_DROP_PROXY_LOOKUP_FAILED;
  });
  const model::MapLookup hit = model::lookupMapState(st, d.peer_identity, dir, f.protocol, f.port);
  const bool lookup_allow = hit.found && hit.value.verdict == model::EntryVerdict::Allow;
  const bool lookup_l7 = hit.found && hit.value.verdict == model::EntryVerdict::Redirect;
  if ((r->retval == kTcOk) == d.allowed && proxy_drop == d.l7_restricted &&
      lookup_allow == d.allowed && lookup_l7 == d.l7_restricted) {
    return "";
  }
  std::ostringstream o;
  o << "flow " << membrane::testing::describeFlow(engine.cluster(), f) << ", side "
    << model::directionName(dir) << "\n  model: " << model::explainSide(engine, d)
    << "\n  compiled lookup: "
    << (hit.found ? std::string(model::entryVerdictName(hit.value.verdict)) : "no entry")
    << "\n  bpf retval " << r->retval << ", events:";
  for (const FlowEvent& ev : *evs) o << "\n    " << formatFlowEvent(ev);
  return o.str();
}

// 1,000 clusters (about 30 s as root): per cluster three flows, each side installed once and
// probed at every port boundary of the flow's protocol.
TEST_F(BpfClusterPropertyTest, BpfVerdictEqualsEvaluateOnRandomClusters) {
  membrane::testing::checkGTestProp(1000, [this] {
    const auto g = *membrane::testing::genCluster();
    auto loaded = membrane::testing::loadGenerated(g);
    const model::Cluster& c = loaded.cluster;
    model::Engine engine(c);
    for (int i = 0; i < 3; ++i) {
      model::Flow f = *membrane::testing::genFlow(c);
      if (f.src.pod && f.dst.pod && *f.src.pod == *f.dst.pod) continue;
      const auto ports = membrane::testing::probePorts(c, f.protocol);
      for (model::Direction dir : {model::Direction::Egress, model::Direction::Ingress}) {
        const auto& local = dir == model::Direction::Egress ? f.src : f.dst;
        if (!local.pod) continue;
        const model::MapState st = install(engine, *local.pod);
        uint16_t sport = 30000;
        for (uint16_t port : ports) {
          f.port = port;
          const std::string why = probe(engine, st, dir, f, ++sport);
          if (!why.empty()) RC_FAIL(why);
        }
      }
    }
  });
}

}  // namespace
}  // namespace membrane::dataplane::testing
