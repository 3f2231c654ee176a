// SPDX-License-Identifier: Apache-2.0
// Policy audit mode in the real programs (BPF_PROG_TEST_RUN): node-wide (load-time
// constant) or per endpoint (MEMBRANE_ENDPOINT_F_POLICY_AUDIT), a policy drop passes, leaves
// a conntrack entry, counts as forwarded and is reported as AUDIT with the reason it would
// have been dropped for; drops of other reasons still drop.
#include <arpa/inet.h>

#include "tests/bpf/bpf_fixture.h"

namespace membrane::dataplane::testing {
namespace {

constexpr auto kEgress = model::Direction::Egress;

class AuditTest : public BpfTest {
 protected:
  void SetUp() override {}
  void load(bool node_wide) {
    DatapathConfig c = smallConfig();
    c.policy_audit = node_wide;
    setUpWith(c);
  }
  void endpointFlags(uint16_t flags) {
    ASSERT_TRUE(endpoints_
                    ->apply({{kPod,
                              {.endpoint_id = kEndpointId,
                               .identity = kPodIdentity,
                               .ifindex = 1,
                               .flags = flags}}})
                    .ok());
  }
  // Allows only kPeerB:80; denies kPeerA:9000 explicitly (cookie 9).
  void policy() {
    model::MapState s;
    s.entries[mkey(kIdB, kEgress, 6, 80, 24)] = mallow(5);
    s.entries[mkey(kIdA, kEgress, 6, 9000, 24)] = mdeny(9);
    setPolicy(s);
  }
  uint64_t drops(uint8_t reason) {
    auto m = readMetrics(dp_->metricsFd());
    EXPECT_TRUE(m.ok());
    return m.ok() ? findMetric(*m, MEMBRANE_DIR_EGRESS, reason).packets : 0;
  }
  void expectAudit(const PacketSpec& pkt, uint8_t reason, uint32_t cookie) {
    const uint64_t dropped_before = drops(reason);
    const TestRunResult r = out(pkt);
    EXPECT_EQ(r.retval, kTcOk);
    auto evs = drainEvents();
    ASSERT_EQ(evs.size(), 1u);
    SCOPED_TRACE(formatFlowEvent(evs[0]));
    EXPECT_EQ(evs[0].verdict, MEMBRANE_VERDICT_AUDIT);
    EXPECT_EQ(evs[0].drop_reason, reason);
    EXPECT_EQ(evs[0].policy_cookie, cookie);
    EXPECT_EQ(drops(reason), dropped_before);  // not counted as a drop
    auto ct = readConntrack(dp_->conntrack());
    ASSERT_TRUE(ct.ok());
    EXPECT_EQ(ct->size(), 1u);
  }
};

TEST_F(AuditTest, NodeWideDefaultDenyPassesAsAudit) {
  load(true);
  policy();
  expectAudit(tcp(kPod, 40000, kPeerA, 8080), MEMBRANE_DROP_POLICY, 0);
}

TEST_F(AuditTest, NodeWideExplicitDenyPassesAsAuditNamingTheRule) {
  load(true);
  policy();
  expectAudit(tcp(kPod, 40000, kPeerA, 9000), MEMBRANE_DROP_POLICY_DENY, 9);
}

TEST_F(AuditTest, PerEndpointFlag) {
  load(false);
  policy();
  const TestRunResult denied = out(tcp(kPod, 40000, kPeerA, 8080));
  EXPECT_EQ(denied.retval, kTcShot);
  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].verdict, MEMBRANE_VERDICT_DROPPED);
  endpointFlags(MEMBRANE_ENDPOINT_F_POLICY_AUDIT);
  expectAudit(tcp(kPod, 40001, kPeerA, 8080), MEMBRANE_DROP_POLICY, 0);
}

TEST_F(AuditTest, AllowedFlowsAndOtherDropsAreUnchanged) {
  load(true);
  policy();
  EXPECT_EQ(out(tcp(kPod, 40000, kPeerB, 80)).retval, kTcOk);
  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].verdict, MEMBRANE_VERDICT_FORWARDED);
  // Spoofed source: not a policy drop, audit does not apply.
  EXPECT_EQ(out(tcp(ipv4Addr(10, 0, 0, 99), 40000, kPeerB, 80)).retval, kTcShot);
  evs = drainEvents();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].verdict, MEMBRANE_VERDICT_DROPPED);
  EXPECT_EQ(evs[0].drop_reason, MEMBRANE_DROP_INVALID_SIP);
}

}  // namespace
}  // namespace membrane::dataplane::testing
