// SPDX-License-Identifier: Apache-2.0
// Conntrack behaviour: replies bypass policy, established flows are re-checked, ICMP errors
// are related, TCP close and reopen, trace-forward only for new flows.
#include <arpa/inet.h>

#include "tests/bpf/bpf_fixture.h"

namespace membrane::dataplane::testing {
namespace {

using model::Direction;

model::MapState egressAllow(uint8_t proto, uint16_t port, uint32_t cookie = 1) {
  model::MapState s;
  s.entries[mkey(kIdA, Direction::Egress, proto, port, 24)] = mallow(cookie);
  return s;
}

TEST_F(BpfTest, ReplyBypassesIngressPolicy) {
  setPolicy(egressAllow(6, 80));  // nothing allowed on ingress
  EXPECT_EQ(out(tcp(kPod, 40000, kPeerA, 80, kTcpSyn)).retval, kTcOk);
  EXPECT_EQ(in(tcp(kPeerA, 80, kPod, 40000, kTcpSyn | kTcpAck)).retval, kTcOk);
  EXPECT_EQ(out(tcp(kPod, 40000, kPeerA, 80, kTcpAck)).retval, kTcOk);
  // A new connection from the peer is not a reply.
  EXPECT_EQ(in(tcp(kPeerA, 80, kPod, 40001, kTcpSyn)).retval, kTcShot);

  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 2u);  // the new flow, the drop; established/reply are not traced
  EXPECT_EQ(evs[0].ct_status, MEMBRANE_CT_NEW);
  EXPECT_EQ(evs[1].drop_reason, MEMBRANE_DROP_POLICY);

  auto ct = readConntrack(dp_->conntrack());
  ASSERT_TRUE(ct.ok());
  ASSERT_EQ(ct->size(), 1u);
  const CtRecord& r = ct->front();
  EXPECT_EQ(r.tuple.flags, MEMBRANE_CT_EGRESS);
  EXPECT_EQ(r.tuple.saddr, htonl(kPod));
  EXPECT_EQ(ntohs(r.tuple.dport), 80);
  EXPECT_EQ(r.entry.tx_packets, 2u);
  EXPECT_EQ(r.entry.rx_packets, 1u);
  EXPECT_EQ(r.entry.src_identity, kPodIdentity);
  EXPECT_EQ(r.entry.dst_identity, kIdA);
  EXPECT_EQ(r.entry.cookie, 1u);
  EXPECT_TRUE(r.entry.flags & MEMBRANE_CT_F_SEEN_NON_SYN);
  EXPECT_EQ(r.entry.tx_flags_seen, kTcpSyn | kTcpAck);
  // Established TCP: the long timeout.
  EXPECT_GT(r.entry.expires_ns, monotonicNowNs() + 3600ull * 1000000000ull);

  auto m = readMetrics(dp_->metricsFd());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(findMetric(*m, MEMBRANE_DIR_EGRESS, 0).packets, 2u);
  EXPECT_EQ(findMetric(*m, MEMBRANE_DIR_INGRESS, 0).packets, 1u);
  EXPECT_EQ(findMetric(*m, MEMBRANE_DIR_INGRESS, MEMBRANE_DROP_POLICY).packets, 1u);
}

TEST_F(BpfTest, EstablishedFlowIsRecheckedAfterADenyIsAdded) {
  setPolicy(egressAllow(6, 80));
  ASSERT_EQ(out(tcp(kPod, 40000, kPeerA, 80, kTcpSyn)).retval, kTcOk);
  ASSERT_EQ(out(tcp(kPod, 40000, kPeerA, 80, kTcpAck)).retval, kTcOk);
  model::MapState s = egressAllow(6, 80);
  s.entries[mkey(kIdA, Direction::Egress, 6, 80, 24)] = mdeny(9);
  setPolicy(s);
  EXPECT_EQ(out(tcp(kPod, 40000, kPeerA, 80, kTcpAck)).retval, kTcShot);
  // Replies still flow until the entry expires (as in Cilium).
  EXPECT_EQ(in(tcp(kPeerA, 80, kPod, 40000, kTcpAck)).retval, kTcOk);
  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[1].ct_status, MEMBRANE_CT_ESTABLISHED);
  EXPECT_EQ(evs[1].drop_reason, MEMBRANE_DROP_POLICY_DENY);
  EXPECT_EQ(evs[1].policy_cookie, 9u);
}

TEST_F(BpfTest, IcmpErrorIsRelated) {
  setPolicy(egressAllow(17, 53));
  const PacketSpec query = udp(kPod, 40000, kPeerA, 53);
  ASSERT_EQ(out(query).retval, kTcOk);
  const auto quoted = buildIpv4(query);
  auto err = icmpErrorSpec(kPeerA, kPod, 3, 3, quoted);  // port unreachable
  EXPECT_EQ(in(err).retval, kTcOk);
  // An error quoting a flow that never existed is just a new ICMP packet: denied.
  auto stray = icmpErrorSpec(kPeerA, kPod, 3, 3, buildIpv4(udp(kPod, 40001, kPeerA, 53)));
  EXPECT_EQ(in(stray).retval, kTcShot);
  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[1].drop_reason, MEMBRANE_DROP_POLICY);
  auto ct = readConntrack(dp_->conntrack());
  ASSERT_EQ(ct->size(), 1u);
  EXPECT_EQ(ct->front().entry.rx_packets, 1u);
}

TEST_F(BpfTest, EchoReplyIsAReply) {
  setPolicy(egressAllow(1, 8));
  ASSERT_EQ(out(icmp(kPod, kPeerA, 8, 0x1234)).retval, kTcOk);
  EXPECT_EQ(in(icmp(kPeerA, kPod, 0, 0x1234)).retval, kTcOk);
  EXPECT_EQ(in(icmp(kPeerA, kPod, 0, 0x9999)).retval, kTcShot);  // no such request
  EXPECT_EQ(in(icmp(kPeerA, kPod, 8, 0x1234)).retval, kTcShot);  // peer's own ping
}

TEST_F(BpfTest, TcpCloseShortensLifetimeAndSynReopensThroughPolicy) {
  setPolicy(egressAllow(6, 80));
  ASSERT_EQ(out(tcp(kPod, 40000, kPeerA, 80, kTcpSyn)).retval, kTcOk);
  ASSERT_EQ(out(tcp(kPod, 40000, kPeerA, 80, kTcpAck | kTcpFin)).retval, kTcOk);
  auto ct = readConntrack(dp_->conntrack());
  ASSERT_EQ(ct->size(), 1u);
  EXPECT_TRUE(ct->front().entry.flags & MEMBRANE_CT_F_TX_CLOSING);
  EXPECT_LT(ct->front().entry.expires_ns, monotonicNowNs() + 11ull * 1000000000ull);
  drainEvents();
  // Port reuse: a SYN on a closing entry is a new flow (traced as NEW, policy checked).
  ASSERT_EQ(out(tcp(kPod, 40000, kPeerA, 80, kTcpSyn)).retval, kTcOk);
  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].ct_status, MEMBRANE_CT_NEW);
  ct = readConntrack(dp_->conntrack());
  EXPECT_FALSE(ct->front().entry.flags & MEMBRANE_CT_F_TX_CLOSING);
}

TEST_F(BpfTest, ExpiredEntriesAreNewAgainAndCollected) {
  DatapathConfig cfg = smallConfig();
  cfg.ct_timeout_any_s = 0;  // every UDP entry expires immediately
  dp_.reset();
  setUpWith(cfg);
  if (IsSkipped()) return;
  setPolicy(egressAllow(17, 53));
  ASSERT_EQ(out(udp(kPod, 40000, kPeerA, 53)).retval, kTcOk);
  // The reply finds an expired entry: not a reply, ingress policy denies it.
  EXPECT_EQ(in(udp(kPeerA, 53, kPod, 40000)).retval, kTcShot);
  auto removed = collectExpiredConntrack(dp_->conntrack(), monotonicNowNs());
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 1u);
}

TEST_F(BpfTest, TraceAllReportsEveryForwardedPacket) {
  DatapathConfig cfg = smallConfig();
  cfg.trace_forward = MEMBRANE_TRACE_ALL;
  dp_.reset();
  setUpWith(cfg);
  if (IsSkipped()) return;
  setPolicy(egressAllow(6, 80));
  out(tcp(kPod, 40000, kPeerA, 80, kTcpSyn));
  in(tcp(kPeerA, 80, kPod, 40000, kTcpSyn | kTcpAck));
  out(tcp(kPod, 40000, kPeerA, 80, kTcpAck));
  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(evs[1].ct_status, MEMBRANE_CT_REPLY);
  EXPECT_EQ(evs[2].ct_status, MEMBRANE_CT_ESTABLISHED);
}

TEST_F(BpfTest, TraceNoneStillReportsDrops) {
  DatapathConfig cfg = smallConfig();
  cfg.trace_forward = MEMBRANE_TRACE_NONE;
  dp_.reset();
  setUpWith(cfg);
  if (IsSkipped()) return;
  setPolicy(egressAllow(6, 80));
  out(tcp(kPod, 40000, kPeerA, 80));
  out(tcp(kPod, 40000, kPeerA, 81));
  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].drop_reason, MEMBRANE_DROP_POLICY);
}

}  // namespace
}  // namespace membrane::dataplane::testing
