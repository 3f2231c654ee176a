// SPDX-License-Identifier: Apache-2.0
// The conntrack fast path (bpf/lib/lxc.h, lxc_established4) and the monitor aggregation
// levels: what invalidates an entry's cached verdict, what a fast-path event reports, and
// which forwarded packets each level reports.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "tests/bpf/bpf_fixture.h"

namespace membrane::dataplane::testing {
namespace {

using model::Direction;

model::MapState allowFrom(model::IdentityId id, Direction dir, uint8_t proto, uint16_t port,
                          uint32_t cookie) {
  model::MapState s;
  s.entries[mkey(id, dir, proto, port, 24)] = mallow(cookie);
  return s;
}

TEST_F(BpfTest, LoadAndEveryVerdictInputBumpTheRevision) {
  auto r0 = dp_->revision();
  ASSERT_TRUE(r0.ok());
  EXPECT_GT(*r0, 0u);  // the load itself: entries of an older program are re-decided
  setPolicy(allowFrom(kIdA, Direction::Egress, 6, 80, 1));
  auto r1 = dp_->revision();
  ASSERT_TRUE(r1.ok());
  EXPECT_GT(*r1, *r0);
  ASSERT_TRUE(ipcache_->apply({{{.addr = kPeerA, .len = 32}, {.identity = kIdB}}}).ok());
  auto r2 = dp_->revision();
  ASSERT_TRUE(r2.ok());
  EXPECT_GT(*r2, *r1);
  ASSERT_TRUE(endpoints_->apply({}).ok());
  auto r3 = dp_->revision();
  ASSERT_TRUE(r3.ok());
  EXPECT_GT(*r3, *r2);
}

TEST_F(BpfTest, EstablishedFlowIsRecheckedWhenItsPeerChangesIdentity) {
  setPolicy(allowFrom(kIdB, Direction::Egress, 6, 80, 1));
  ASSERT_EQ(out(tcp(kPod, 40000, kPeerB, 80, kTcpSyn)).retval, kTcOk);
  ASSERT_EQ(out(tcp(kPod, 40000, kPeerB, 80, kTcpAck)).retval, kTcOk);
  // 10.0.2.0/24 now belongs to an identity the policy does not allow.
  ASSERT_TRUE(ipcache_
                  ->apply({{{.addr = kPeerA, .len = 32}, {.identity = kIdA}},
                           {{.addr = ipv4Addr(10, 0, 2, 0), .len = 24}, {.identity = 2003}},
                           {{.addr = kPod, .len = 32}, {.identity = kPodIdentity}}})
                  .ok());
  EXPECT_EQ(out(tcp(kPod, 40000, kPeerB, 80, kTcpAck)).retval, kTcShot);
  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 2u);  // the SYN (trace NEW) and the drop
  EXPECT_EQ(evs[1].dst_identity, 2003u);
  EXPECT_EQ(evs[1].drop_reason, MEMBRANE_DROP_POLICY);
}

TEST_F(BpfTest, OverlayIdentityOtherThanTheDecidedOneIsRecheckedAndTheMarkConsumed) {
  setPolicy(allowFrom(kIdA, Direction::Ingress, 6, 8080, 1));
  const uint32_t from_a = MEMBRANE_MARK_MAGIC_IDENTITY | kIdA;
  const uint32_t from_b = MEMBRANE_MARK_MAGIC_IDENTITY | kIdB;
  const auto syn = buildIpv4Frame(tcp(kPeerA, 41000, kPod, 8080, kTcpSyn));
  const auto ack = buildIpv4Frame(tcp(kPeerA, 41000, kPod, 8080, kTcpAck));
  auto r = dp_->testRun(Program::ToContainer, syn, 1, from_a);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->retval, kTcOk);
  r = dp_->testRun(Program::ToContainer, ack, 1, from_a);  // fast path
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->retval, kTcOk);
  EXPECT_EQ(r->mark, 0u);  // consumed, as on the full path
  // Same tuple, but the tunnel says identity B, which may not reach port 8080.
  r = dp_->testRun(Program::ToContainer, ack, 1, from_b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->retval, kTcShot);
}

TEST_F(BpfTest, AFlowDecidedOnItsVniIdentityIsRecheckedWhenAPacketComesWithoutOne) {
  // Peer B's address, but the tunnel vouches for identity A, which may reach port 8080; by
  // its ipcache identity (B) it may not.
  setPolicy(allowFrom(kIdA, Direction::Ingress, 6, 8080, 1));
  const uint32_t from_a = MEMBRANE_MARK_MAGIC_IDENTITY | kIdA;
  auto r = dp_->testRun(Program::ToContainer,
                        buildIpv4Frame(tcp(kPeerB, 41000, kPod, 8080, kTcpSyn)), 1, from_a);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->retval, kTcOk);
  // The same tuple arriving natively is judged by the ipcache, as the full path would.
  EXPECT_EQ(in(tcp(kPeerB, 41000, kPod, 8080, kTcpAck)).retval, kTcShot);
}

TEST_F(BpfTest, FastPathEventsCarryTheDecidingEntry) {
  DatapathConfig cfg = smallConfig();
  cfg.trace_forward = MEMBRANE_TRACE_ALL;
  dp_.reset();
  setUpWith(cfg);
  if (IsSkipped()) return;
  model::MapState s = allowFrom(kIdA, Direction::Egress, 6, 80, 41);
  s.entries[mkey(0, Direction::Egress, 17, 53, 24)] = mallow(42);
  setPolicy(s);
  out(tcp(kPod, 40000, kPeerA, 80, kTcpSyn));
  out(tcp(kPod, 40000, kPeerA, 80, kTcpAck));
  out(udp(kPod, 40001, kPeerB, 53));
  out(udp(kPod, 40001, kPeerB, 53));
  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 4u);
  for (int i : {0, 2}) {  // the fast-path record equals the full-path one but for status
    FlowEvent first = evs[i], second = evs[i + 1];
    EXPECT_EQ(first.ct_status, MEMBRANE_CT_NEW);
    EXPECT_EQ(second.ct_status, MEMBRANE_CT_ESTABLISHED);
    EXPECT_GT(second.timestamp_ns, 0u);
    for (FlowEvent* e : {&first, &second}) {
      e->timestamp_ns = 0;
      e->ct_status = 0;
      e->tcp_flags = 0;
    }
    EXPECT_EQ(std::memcmp(&first, &second, sizeof(FlowEvent)), 0) << formatFlowEvent(evs[i + 1]);
  }
  EXPECT_EQ(evs[1].policy_cookie, 41u);
  EXPECT_EQ(evs[1].policy_identity, kIdA);
  EXPECT_EQ(evs[1].match_type, MEMBRANE_MATCH_L3_L4);
  EXPECT_EQ(evs[3].policy_cookie, 42u);
  EXPECT_EQ(evs[3].policy_identity, 0u);
  EXPECT_EQ(evs[3].match_type, MEMBRANE_MATCH_L4_ONLY);
}

class AggregationTest : public BpfTest, public ::testing::WithParamInterface<const char*> {
 protected:
  // One TCP connection: SYN, SYN-ACK, ACK, ACK, reply ACK, FIN, reply FIN; then a denied SYN.
  std::string connectionEvents() {
    out(tcp(kPod, 40000, kPeerA, 80, kTcpSyn));
    in(tcp(kPeerA, 80, kPod, 40000, kTcpSyn | kTcpAck));
    out(tcp(kPod, 40000, kPeerA, 80, kTcpAck));
    out(tcp(kPod, 40000, kPeerA, 80, kTcpAck));
    in(tcp(kPeerA, 80, kPod, 40000, kTcpAck));
    out(tcp(kPod, 40000, kPeerA, 80, kTcpFin | kTcpAck));
    in(tcp(kPeerA, 80, kPod, 40000, kTcpFin | kTcpAck));
    out(tcp(kPod, 40001, kPeerA, 81, kTcpSyn));
    std::string got;
    for (const FlowEvent& e : drainEvents()) {
      got += e.drop_reason ? "drop " : e.ct_status == MEMBRANE_CT_REPLY ? "reply " : "fwd ";
    }
    return got;
  }
};

TEST_P(AggregationTest, ReportsTheLevelsPackets) {
  auto level = monitorAggregation(GetParam());
  ASSERT_TRUE(level.ok());
  DatapathConfig cfg = smallConfig();
  cfg.trace_forward = *level;
  dp_.reset();
  setUpWith(cfg);
  if (IsSkipped()) return;
  setPolicy(allowFrom(kIdA, Direction::Egress, 6, 80, 1));
  const std::string got = connectionEvents();
  const std::string level_name = GetParam();
  const std::string want = level_name == "none"  ? "fwd reply fwd fwd reply fwd reply drop "
                           : level_name == "low" ? "fwd fwd fwd fwd drop "
                           : level_name == "medium"
                               ? "fwd reply fwd reply drop "  // SYN, SYN-ACK, FIN, reply FIN
                               : "fwd drop ";                 // maximum: first packet only
  EXPECT_EQ(got, want);
  EXPECT_EQ(monitorAggregationName(*level), level_name);
}

INSTANTIATE_TEST_SUITE_P(Levels, AggregationTest,
                         ::testing::Values("none", "low", "medium", "maximum"));

TEST(MonitorAggregation, RejectsUnknownLevels) {
  auto bad = monitorAggregation("verbose");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("expected none, low, medium or maximum"), std::string::npos);
}

}  // namespace
}  // namespace membrane::dataplane::testing
