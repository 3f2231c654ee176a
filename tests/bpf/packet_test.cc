// SPDX-License-Identifier: Apache-2.0
// Table-driven packet tests through BPF_PROG_TEST_RUN: one row per rule class, each a
// (policy, packet, expected verdict / drop reason / match / cookie) triplet.
#include <arpa/inet.h>

#include <algorithm>

#include "tests/bpf/bpf_fixture.h"

namespace membrane::dataplane::testing {
namespace {

using model::Direction;
constexpr Direction kIn = Direction::Ingress;
constexpr Direction kOut = Direction::Egress;

struct Case {
  const char* name;
  std::vector<std::pair<model::MapKey, model::MapValue>> policy;
  Program program;
  PacketSpec packet;
  int retval;
  uint8_t drop_reason;
  uint8_t match_type;
  uint32_t cookie;  // of the deciding entry (0 = none)
  uint32_t mark = 0;
  ProxyPortState proxies = {};  // membrane_proxy_ports before the packet (default: empty)
};

// gtest prints parameters in test listings (and so in ctest names): print the case name.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> cases() {
  return {
      {"l3_only_allow",
       {{mkey(kIdA, kOut, 0, 0, 0), mallow(1)}},
       Program::FromContainer,
       tcp(kPod, 40000, kPeerA, 80),
       kTcOk,
       0,
       MEMBRANE_MATCH_L3_ONLY,
       1},
      {"l3_only_other_peer_default_deny",
       {{mkey(kIdA, kOut, 0, 0, 0), mallow(1)}},
       Program::FromContainer,
       tcp(kPod, 40000, kPeerB, 80),
       kTcShot,
       MEMBRANE_DROP_POLICY,
       MEMBRANE_MATCH_NONE,
       0},
      {"l3_l4_allow",
       {{mkey(kIdA, kOut, 6, 80, 24), mallow(2)}},
       Program::FromContainer,
       tcp(kPod, 40000, kPeerA, 80),
       kTcOk,
       0,
       MEMBRANE_MATCH_L3_L4,
       2},
      {"l3_l4_other_port",
       {{mkey(kIdA, kOut, 6, 80, 24), mallow(2)}},
       Program::FromContainer,
       tcp(kPod, 40000, kPeerA, 81),
       kTcShot,
       MEMBRANE_DROP_POLICY,
       MEMBRANE_MATCH_NONE,
       0},
      {"l3_l4_other_proto",
       {{mkey(kIdA, kOut, 6, 80, 24), mallow(2)}},
       Program::FromContainer,
       udp(kPod, 40000, kPeerA, 80),
       kTcShot,
       MEMBRANE_DROP_POLICY,
       MEMBRANE_MATCH_NONE,
       0},
      {"l4_only_any_identity",
       {{mkey(0, kOut, 6, 443, 24), mallow(3)}},
       Program::FromContainer,
       tcp(kPod, 40000, kWorld, 443),
       kTcOk,
       0,
       MEMBRANE_MATCH_L4_ONLY,
       3},
      {"wildcard_all",
       {{mkey(0, kOut, 0, 0, 0), mallow(4)}},
       Program::FromContainer,
       udp(kPod, 40000, kPeerB, 9999),
       kTcOk,
       0,
       MEMBRANE_MATCH_ALL,
       4},
      {"l3_proto_only",
       {{mkey(kIdA, kOut, 17, 0, 8), mallow(5)}},
       Program::FromContainer,
       udp(kPod, 40000, kPeerA, 12345),
       kTcOk,
       0,
       MEMBRANE_MATCH_L3_PROTO,
       5},
      {"proto_only_any_identity",
       {{mkey(0, kOut, 17, 0, 8), mallow(6)}},
       Program::FromContainer,
       udp(kPod, 40000, kWorld, 53),
       kTcOk,
       0,
       MEMBRANE_MATCH_PROTO_ONLY,
       6},
      {"port_range_inside",
       {{mkey(kIdA, kOut, 6, 8080, 20), mallow(7)}},
       Program::FromContainer,
       tcp(kPod, 40000, kPeerA, 8095),
       kTcOk,
       0,
       MEMBRANE_MATCH_L3_L4,
       7},
      {"port_range_outside",
       {{mkey(kIdA, kOut, 6, 8080, 20), mallow(7)}},
       Program::FromContainer,
       tcp(kPod, 40000, kPeerA, 8096),
       kTcShot,
       MEMBRANE_DROP_POLICY,
       MEMBRANE_MATCH_NONE,
       0},
      {"deny_l4_beats_allow_l3",
       {{mkey(kIdA, kOut, 0, 0, 0), mallow(8)}, {mkey(0, kOut, 6, 22, 24), mdeny(9)}},
       Program::FromContainer,
       tcp(kPod, 40000, kPeerA, 22),
       kTcShot,
       MEMBRANE_DROP_POLICY_DENY,
       MEMBRANE_MATCH_L4_ONLY,
       9},
      {"deny_l4_other_port_allowed",
       {{mkey(kIdA, kOut, 0, 0, 0), mallow(8)}, {mkey(0, kOut, 6, 22, 24), mdeny(9)}},
       Program::FromContainer,
       tcp(kPod, 40000, kPeerA, 80),
       kTcOk,
       0,
       MEMBRANE_MATCH_L3_ONLY,
       8},
      {"deny_l3_short_circuits",
       {{mkey(kIdA, kOut, 0, 0, 0), mdeny(10)}, {mkey(0, kOut, 6, 80, 24), mallow(11)}},
       Program::FromContainer,
       tcp(kPod, 40000, kPeerA, 80),
       kTcShot,
       MEMBRANE_DROP_POLICY_DENY,
       MEMBRANE_MATCH_L3_ONLY,
       10},
      {"equal_precedence_longer_prefix_wins",
       {{mkey(kIdA, kOut, 6, 0, 8), mallow(12)}, {mkey(0, kOut, 6, 80, 24), mallow(13)}},
       Program::FromContainer,
       tcp(kPod, 40000, kPeerA, 80),
       kTcOk,
       0,
       MEMBRANE_MATCH_L4_ONLY,
       13},
      {"redirect_to_listening_proxy",
       {{mkey(kIdA, kOut, 6, 80, 24), mredirect(15001, 14)}},
       Program::FromContainer,
       tcp(kPod, 40000, kPeerA, 80),
       kTcOk,
       0,
       MEMBRANE_MATCH_L3_L4,
       14,
       0x0200u | (15001u << 16),
       {{15001, {.ifindex = 1, .listening = true}}}},
      // Fail closed: no proxy enforces the L7 rules, so the packet must not pass.
      {"redirect_without_proxy_drops",
       {{mkey(kIdA, kOut, 6, 80, 24), mredirect(15001, 14)}},
       Program::FromContainer,
       tcp(kPod, 40000, kPeerA, 80),
       kTcShot,
       MEMBRANE_DROP_PROXY_LOOKUP_FAILED,
       MEMBRANE_MATCH_L3_L4,
       14},
      {"redirect_to_registered_but_not_listening_proxy_drops",
       {{mkey(kIdA, kIn, 6, 80, 24), mredirect(15001, 14)}},
       Program::ToContainer,
       tcp(kPeerA, 40000, kPod, 80),
       kTcShot,
       MEMBRANE_DROP_PROXY_LOOKUP_FAILED,
       MEMBRANE_MATCH_L3_L4,
       14,
       0,
       {{15001, {.ifindex = 1, .listening = false}}}},
      // A packet entering the pod is past the node's routing: marking it would deliver it to
      // the pod unfiltered, so an ingress redirect drops even with a listening proxy.
      {"ingress_redirect_fails_closed_with_listening_proxy",
       {{mkey(kIdA, kIn, 6, 80, 24), mredirect(15001, 14)}},
       Program::ToContainer,
       tcp(kPeerA, 40000, kPod, 80),
       kTcShot,
       MEMBRANE_DROP_PROXY_LOOKUP_FAILED,
       MEMBRANE_MATCH_L3_L4,
       14,
       0,
       {{15001, {.ifindex = 1, .listening = true}}}},
      {"redirect_to_other_proxy_port_drops",
       {{mkey(kIdA, kOut, 6, 80, 24), mredirect(15001, 14)}},
       Program::FromContainer,
       tcp(kPod, 40000, kPeerA, 80),
       kTcShot,
       MEMBRANE_DROP_PROXY_LOOKUP_FAILED,
       MEMBRANE_MATCH_L3_L4,
       14,
       0,
       {{15002, {.listening = true}}}},
      {"redirect_beats_allow",
       {{mkey(kIdA, kOut, 6, 80, 24), mallow(15)}, {mkey(0, kOut, 6, 0, 8), mredirect(15002, 16)}},
       Program::FromContainer,
       tcp(kPod, 40000, kPeerA, 80),
       kTcOk,
       0,
       MEMBRANE_MATCH_PROTO_ONLY,
       16,
       0x0200u | (15002u << 16),
       {{15002, {.listening = true}}}},
      {"deny_beats_redirect_without_proxy",
       {{mkey(kIdA, kOut, 6, 80, 24), mredirect(15001, 14)}, {mkey(0, kOut, 6, 0, 8), mdeny(26)}},
       Program::FromContainer,
       tcp(kPod, 40000, kPeerA, 80),
       kTcShot,
       MEMBRANE_DROP_POLICY_DENY,
       MEMBRANE_MATCH_PROTO_ONLY,
       26},
      {"icmp_type_allowed",
       {{mkey(kIdA, kOut, 1, 8, 24), mallow(17)}},
       Program::FromContainer,
       icmp(kPod, kPeerA, 8),
       kTcOk,
       0,
       MEMBRANE_MATCH_L3_L4,
       17},
      {"icmp_other_type",
       {{mkey(kIdA, kOut, 1, 8, 24), mallow(17)}},
       Program::FromContainer,
       icmp(kPod, kPeerA, 13),
       kTcShot,
       MEMBRANE_DROP_POLICY,
       MEMBRANE_MATCH_NONE,
       0},
      {"sctp_port",
       {{mkey(kIdB, kOut, 132, 9000, 24), mallow(18)}},
       Program::FromContainer,
       sctp(kPod, 40000, kPeerB, 9000),
       kTcOk,
       0,
       MEMBRANE_MATCH_L3_L4,
       18},
      {"world_identity",
       {{mkey(2, kOut, 0, 0, 0), mallow(19)}},
       Program::FromContainer,
       tcp(kPod, 40000, kWorld, 80),
       kTcOk,
       0,
       MEMBRANE_MATCH_L3_ONLY,
       19},
      {"ingress_allow_from_peer",
       {{mkey(kIdA, kIn, 6, 80, 24), mallow(20)}},
       Program::ToContainer,
       tcp(kPeerA, 40000, kPod, 80),
       kTcOk,
       0,
       MEMBRANE_MATCH_L3_L4,
       20},
      {"ingress_world_default_deny",
       {{mkey(kIdA, kIn, 6, 80, 24), mallow(20)}},
       Program::ToContainer,
       tcp(kWorld, 40000, kPod, 80),
       kTcShot,
       MEMBRANE_DROP_POLICY,
       MEMBRANE_MATCH_NONE,
       0},
      {"egress_entry_does_not_allow_ingress",
       {{mkey(kIdA, kOut, 6, 80, 24), mallow(21)}},
       Program::ToContainer,
       tcp(kPeerA, 40000, kPod, 80),
       kTcShot,
       MEMBRANE_DROP_POLICY,
       MEMBRANE_MATCH_NONE,
       0},
      {"spoofed_source",
       {{mkey(0, kOut, 0, 0, 0), mallow(22)}},
       Program::FromContainer,
       tcp(ipv4Addr(10, 0, 0, 99), 40000, kPeerA, 80),
       kTcShot,
       MEMBRANE_DROP_INVALID_SIP,
       MEMBRANE_MATCH_NONE,
       0},
      {"not_for_this_endpoint",
       {{mkey(0, kIn, 0, 0, 0), mallow(23)}},
       Program::ToContainer,
       tcp(kPeerA, 40000, ipv4Addr(10, 0, 0, 99), 80),
       kTcShot,
       MEMBRANE_DROP_UNKNOWN_TARGET,
       MEMBRANE_MATCH_NONE,
       0},
      {"fragment",
       {{mkey(0, kOut, 0, 0, 0), mallow(24)}},
       Program::FromContainer,
       [] {
         auto p = tcp(kPod, 40000, kPeerA, 80);
         p.frag_off = 0x2000;  // MF
         return p;
       }(),
       kTcShot,
       MEMBRANE_DROP_FRAG_NOSUPPORT,
       MEMBRANE_MATCH_NONE,
       0},
      {"unknown_l4",
       {{mkey(0, kOut, 0, 0, 0), mallow(25)}},
       Program::FromContainer,
       PacketSpec{.saddr = kPod, .daddr = kPeerA, .protocol = 47},
       kTcShot,
       MEMBRANE_DROP_UNKNOWN_L4,
       MEMBRANE_MATCH_NONE,
       0},
  };
}

class PolicyClassTest : public BpfTest, public ::testing::WithParamInterface<Case> {};

TEST_P(PolicyClassTest, VerdictEventAndCounters) {
  const Case& c = GetParam();
  model::MapState s;
  for (const auto& [k, v] : c.policy) s.entries[k] = v;
  setPolicy(s);
  ASSERT_TRUE(proxy_ports_->apply(c.proxies).ok());
  const TestRunResult r = run(c.program, c.packet);
  EXPECT_EQ(r.retval, c.retval);
  EXPECT_EQ(r.mark, c.mark);

  // Every drop and every new forwarded flow produce exactly one event.
  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 1u);
  const FlowEvent& ev = evs[0];
  SCOPED_TRACE(formatFlowEvent(ev));
  EXPECT_EQ(ev.drop_reason, c.drop_reason);
  EXPECT_EQ(ev.verdict, c.drop_reason != 0 ? MEMBRANE_VERDICT_DROPPED
                        : c.mark != 0      ? MEMBRANE_VERDICT_REDIRECTED
                                           : MEMBRANE_VERDICT_FORWARDED);
  EXPECT_EQ(ev.match_type, c.match_type);
  EXPECT_EQ(ev.policy_cookie, c.cookie);
  // A redirect, passed or dropped for want of a proxy, names its proxy port.
  const auto redirect = std::find_if(c.policy.begin(), c.policy.end(), [&](const auto& e) {
    return e.second.cookie == c.cookie && e.second.verdict == model::EntryVerdict::Redirect;
  });
  EXPECT_EQ(ev.proxy_port, redirect == c.policy.end() ? 0 : redirect->second.proxy_port);
  EXPECT_EQ(ev.saddr, htonl(c.packet.saddr));
  EXPECT_EQ(ev.daddr, htonl(c.packet.daddr));
  EXPECT_EQ(ev.protocol, c.packet.protocol);
  const uint8_t dir =
      c.program == Program::FromContainer ? MEMBRANE_DIR_EGRESS : MEMBRANE_DIR_INGRESS;
  EXPECT_EQ(ev.direction, dir);

  auto m = readMetrics(dp_->metricsFd());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(findMetric(*m, dir, c.drop_reason).packets, 1u);

  // Allowed flows leave a conntrack entry, dropped ones do not.
  auto ct = readConntrack(dp_->conntrack());
  ASSERT_TRUE(ct.ok());
  EXPECT_EQ(ct->size(), c.drop_reason == 0 ? 1u : 0u);
}

INSTANTIATE_TEST_SUITE_P(Classes, PolicyClassTest, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(BpfTest, EventCarriesIdentitiesAndTheMatchedKey) {
  model::MapState s;
  s.entries[mkey(kIdA, kOut, 6, 8080, 20)] = mallow(77);
  setPolicy(s);
  out(tcp(kPod, 40001, kPeerA, 8090));
  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].src_identity, kPodIdentity);
  EXPECT_EQ(evs[0].dst_identity, kIdA);
  EXPECT_EQ(evs[0].endpoint_id, kEndpointId);
  EXPECT_EQ(evs[0].policy_identity, kIdA);
  EXPECT_EQ(evs[0].policy_protocol, 6);
  EXPECT_EQ(evs[0].policy_port, 8080);
  EXPECT_EQ(evs[0].policy_prefix_len, 20);
  EXPECT_EQ(ntohs(evs[0].sport), 40001);
  EXPECT_EQ(ntohs(evs[0].dport), 8090);
  EXPECT_EQ(evs[0].ct_status, MEMBRANE_CT_NEW);
}

TEST_F(BpfTest, NonIpv4) {
  setPolicy({});
  auto v6 = dp_->testRun(Program::FromContainer, buildIpv6Frame());
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->retval, kTcShot);
  auto arp = dp_->testRun(Program::FromContainer, buildArpFrame(kPod, kPeerA));
  ASSERT_TRUE(arp.ok());
  EXPECT_EQ(arp->retval, kTcOk);
  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 1u);  // ARP passes silently
  EXPECT_EQ(evs[0].drop_reason, MEMBRANE_DROP_UNKNOWN_L3);
  EXPECT_EQ(ntohs(evs[0].eth_proto), 0x86DD);
}

TEST_F(BpfTest, EndpointWithoutPolicyMapDrops) {
  // No policy installed for the endpoint at all.
  EXPECT_EQ(out(tcp(kPod, 40000, kPeerA, 80)).retval, kTcShot);
  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].drop_reason, MEMBRANE_DROP_NO_CONFIG);
}

}  // namespace
}  // namespace membrane::dataplane::testing
