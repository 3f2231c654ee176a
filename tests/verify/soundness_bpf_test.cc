// SPDX-License-Identifier: Apache-2.0
// The privileged half of the soundness of `scope: any`: when verify says an invariant is
// violated, its witness made into pods (emit's witness.yaml, loaded with the manifests)
// violates it in the BPF programs too. Each side of the witness flow that is a pod runs
// through its program with BPF_PROG_TEST_RUN, the pod installed as the local endpoint with
// its compiled policy and its node's ipcache, as tests/bpf/cluster_property_test.cc does.
// Skips (with the reason) when not root or when the kernel refuses the datapath.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "tests/bpf/bpf_fixture.h"
#include "tests/verify/soundness_gen.h"

namespace membrane::verify {
namespace {

using dataplane::testing::kEndpointId;
using dataplane::testing::kTcOk;

class SoundnessBpf : public dataplane::testing::BpfTest {
 protected:
  // Whether the pod's program passes the flow's first packet on this side.
  bool sidePasses(const model::Engine& engine, const model::Flow& f, bool egress, int i) {
    const model::Cluster& c = engine.cluster();
    const model::Pod& pod = c.pods[*(egress ? f.src : f.dst).pod];
    dataplane::IpcacheState ipc;
    for (const auto& [cidr, id] : engine.ipcache(pod.node_name)) {
      ipc[{.addr = cidr.addr, .len = cidr.len}] = {.identity = id};
    }
    RC_ASSERT(ipcache_->apply(ipc).ok());
    RC_ASSERT(endpoints_
                  ->apply({{*pod.ip,
                            {.endpoint_id = kEndpointId, .identity = pod.identity, .ifindex = 1}}})
                  .ok());
    RC_ASSERT(policy_->apply(kEndpointId, engine.compile(*(egress ? f.src : f.dst).pod)).ok());
    (void)drainEvents();
    const dataplane::PacketSpec p{.saddr = f.src.ip,
                                  .daddr = f.dst.ip,
                                  .protocol = f.protocol,
                                  .sport = static_cast<uint16_t>(30000 + i),
                                  .dport = f.port,
                                  .icmp_type = static_cast<uint8_t>(f.port),
                                  .icmp_id = static_cast<uint16_t>(i)};
    auto r =
        dp_->testRun(egress ? dataplane::Program::FromContainer : dataplane::Program::ToContainer,
                     dataplane::buildIpv4Frame(p));
    RC_ASSERT(r.ok());
    RC_ASSERT(clearConntrack());  // every witness flow is new
    return r->retval == kTcOk;
  }
};

TEST_F(SoundnessBpf, ViolatedWitnessViolatesInTheBpfPrograms) {
  int n = 0;
  const bool ok = rc::check("a violated invariant's witness, as pods, violates it in BPF", [&] {
    const soundness::Case k = soundness::genCase();
    const auto base = soundness::load(k.base);
    Verifier v(base.cluster, {.timeout_ms = 10000});
    const InvariantResult r = v.check(k.inv);
    RC_ASSERT(r.outcome != Outcome::Unknown && r.outcome != Outcome::InternalError);
    RC_CLASSIFY(r.outcome != Outcome::Violated, "not violated (checked in the engine property)");
    if (r.outcome != Outcome::Violated) return;
    // L7 redirects: no proxy listens, so the datapath drops them (fail closed, reason 178).
    RC_CLASSIFY(r.witness->smt_l7, "L7-restricted");
    const auto cw = soundness::concreteWitness(k, base.cluster, r);
    RC_CLASSIFY(!cw, "witness not replayable as pods");
    if (!cw) return;
    const model::Engine engine(cw->loaded.cluster);
    bool allowed = true;
    for (bool egress : {true, false}) {
      if ((egress ? cw->flow.src : cw->flow.dst).pod) {
        allowed &= sidePasses(engine, cw->flow, egress, ++n % 20000);
      }
    }
    RC_LOG() << "BPF on the concrete witness: allowed=" << allowed << "\n";
    if (r.witness->smt_l7) {
      RC_ASSERT(!allowed);
    } else {
      RC_ASSERT(allowed == (k.inv.expect == Expect::Deny));
    }
  });
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace membrane::verify
