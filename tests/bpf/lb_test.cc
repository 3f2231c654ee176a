// SPDX-License-Identifier: Apache-2.0
// Services in the datapath (bpf/lib/lb.h) under BPF_PROG_TEST_RUN: DNAT to a backend with
// checksums as a fresh packet would carry them, the same backend for every packet of a flow,
// reverse NAT of replies, ClientIP affinity, terminating backends, NO_SERVICE drops, the
// policy seeing the backend's port, and the conntrack fast path for service flows.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <set>

#include "dataplane/lb_writer.h"
#include "tests/bpf/bpf_fixture.h"

namespace membrane::dataplane::testing {
namespace {

using model::Direction;

constexpr uint32_t kVip = ipv4Addr(10, 96, 0, 10);
constexpr uint32_t kPeerB2 = ipv4Addr(10, 0, 2, 6);  // identity kIdB too (10.0.2.0/24)

class LbTest : public BpfTest {
 protected:
  virtual DatapathConfig lbConfig() { return smallConfig(); }
  void SetUp() override {
    setUpWith(lbConfig());
    if (IsSkipped() || HasFatalFailure()) return;
    lb_ = std::make_unique<LbWriter>(dp_->lbMaps());
    // Egress to both backend identities on TCP 80 only.
    model::MapState s;
    s.entries[mkey(kIdA, Direction::Egress, 6, 80, 24)] = mallow(1);
    s.entries[mkey(kIdB, Direction::Egress, 6, 80, 24)] = mallow(2);
    setPolicy(s);
  }

  void setServices(const ServiceState& s) {
    auto r = lb_->apply(s);
    ASSERT_TRUE(r.ok()) << r.error().message();
  }

  // Which backend (address, port) the DNATed frame goes to; {0, 0} when it was not rewritten
  // into exactly the frame a client would have sent to that backend (checksums included).
  std::pair<uint32_t, uint16_t> dnatTarget(const TestRunResult& r, const PacketSpec& sent,
                                           const std::vector<std::pair<uint32_t, uint16_t>>& bs) {
    for (const auto& [ip, port] : bs) {
      PacketSpec to = sent;
      to.daddr = ip;
      to.dport = port;
      if (r.data_out == buildIpv4Frame(to)) return {ip, port};
    }
    return {0, 0};
  }

  std::unique_ptr<LbWriter> lb_;
};

const LbFrontend kFront80{.vip = kVip, .port = 80, .proto = 6};
const std::vector<std::pair<uint32_t, uint16_t>> kBackends80 = {{kPeerA, 80}, {kPeerB, 80}};

LbServiceSpec twoBackends(uint16_t port, LbAlgorithm alg = LbAlgorithm::Random,
                          uint32_t affinity = 0) {
  return {.backends = {{.ip = kPeerA, .port = port}, {.ip = kPeerB, .port = port}},
          .algorithm = alg,
          .affinity_timeout_s = affinity};
}

TEST_F(LbTest, DnatsToABackendKeepsItForTheFlowAndRevNatsTheReply) {
  setServices({{kFront80, twoBackends(80)}});
  std::set<uint32_t> chosen;
  for (uint16_t sport = 40000; sport < 40032; ++sport) {
    const PacketSpec syn = tcp(kPod, sport, kVip, 80, kTcpSyn);
    auto r = out(syn);
    ASSERT_EQ(r.retval, kTcOk);
    const auto target = dnatTarget(r, syn, kBackends80);
    ASSERT_NE(target.first, 0u) << "not DNATed to a backend with valid checksums";
    chosen.insert(target.first);
    for (int i = 0; i < 3; ++i) {  // the rest of the flow: same backend
      const PacketSpec ack = tcp(kPod, sport, kVip, 80, kTcpAck);
      auto a = out(ack);
      ASSERT_EQ(a.retval, kTcOk);
      EXPECT_EQ(dnatTarget(a, ack, {target}), target);
    }
    // The reply enters the client with the VIP as its source.
    auto rep = in(tcp(target.first, 80, kPod, sport, kTcpSyn | kTcpAck));
    ASSERT_EQ(rep.retval, kTcOk);
    EXPECT_EQ(rep.data_out, buildIpv4Frame(tcp(kVip, 80, kPod, sport, kTcpSyn | kTcpAck)));
  }
  // Random selection over 32 flows: both backends (all on one: probability 2^-31).
  EXPECT_EQ(chosen.size(), 2u);
}

TEST_F(LbTest, UdpServiceIsTranslatedWithItsChecksum) {
  ASSERT_TRUE(policy_
                  ->apply(kEndpointId,
                          model::MapState{
                              .entries = {{mkey(kIdA, Direction::Egress, 17, 53, 24), mallow(3)}}})
                  .ok());
  setServices(
      {{{.vip = kVip, .port = 53, .proto = 17}, {.backends = {{.ip = kPeerA, .port = 53}}}}});
  const PacketSpec q = udp(kPod, 5353, kVip, 53);
  auto r = out(q);
  ASSERT_EQ(r.retval, kTcOk);
  EXPECT_EQ(dnatTarget(r, q, {{kPeerA, 53}}), std::make_pair(kPeerA, uint16_t{53}));
  auto rep = in(udp(kPeerA, 53, kPod, 5353));
  ASSERT_EQ(rep.retval, kTcOk);
  EXPECT_EQ(rep.data_out, buildIpv4Frame(udp(kVip, 53, kPod, 5353)));
}

TEST_F(LbTest, ClientIpAffinityKeepsAClientOnOneBackend) {
  setServices({{kFront80, twoBackends(80, LbAlgorithm::Random, 60)}});
  std::set<uint32_t> chosen;
  for (uint16_t sport = 41000; sport < 41032; ++sport) {
    const PacketSpec syn = tcp(kPod, sport, kVip, 80, kTcpSyn);
    auto r = out(syn);
    ASSERT_EQ(r.retval, kTcOk);
    chosen.insert(dnatTarget(r, syn, kBackends80).first);
  }
  EXPECT_EQ(chosen.size(), 1u);
  EXPECT_FALSE(chosen.contains(0u));
}

TEST_F(LbTest, AffinityDoesNotOutliveItsBackendGoingTerminating) {
  setServices({{kFront80, twoBackends(80, LbAlgorithm::Random, 60)}});
  const PacketSpec syn = tcp(kPod, 41500, kVip, 80, kTcpSyn);
  const uint32_t first = dnatTarget(out(syn), syn, kBackends80).first;
  ASSERT_NE(first, 0u);
  const uint32_t other = first == kPeerA ? kPeerB : kPeerA;
  setServices({{kFront80,
                {.backends = {{.ip = first, .port = 80, .state = LbBackendState::Terminating},
                              {.ip = other, .port = 80}},
                 .affinity_timeout_s = 60}}});
  for (uint16_t sport = 41501; sport < 41517; ++sport) {
    const PacketSpec s = tcp(kPod, sport, kVip, 80, kTcpSyn);
    EXPECT_EQ(dnatTarget(out(s), s, kBackends80).first, other);
  }
}

TEST_F(LbTest, TerminatingBackendKeepsItsFlowAndGetsNoNewOne) {
  setServices({{kFront80, {.backends = {{.ip = kPeerA, .port = 80}}}}});
  const PacketSpec syn = tcp(kPod, 42000, kVip, 80, kTcpSyn);
  ASSERT_EQ(dnatTarget(out(syn), syn, {{kPeerA, 80}}).first, kPeerA);
  setServices({{kFront80,
                {.backends = {{.ip = kPeerA, .port = 80, .state = LbBackendState::Terminating},
                              {.ip = kPeerB, .port = 80}}}}});
  const PacketSpec ack = tcp(kPod, 42000, kVip, 80, kTcpAck);
  auto old_flow = out(ack);
  ASSERT_EQ(old_flow.retval, kTcOk);
  EXPECT_EQ(dnatTarget(old_flow, ack, {{kPeerA, 80}}).first, kPeerA);
  for (uint16_t sport = 42001; sport < 42033; ++sport) {
    const PacketSpec s = tcp(kPod, sport, kVip, 80, kTcpSyn);
    EXPECT_EQ(dnatTarget(out(s), s, kBackends80).first, kPeerB);
  }
}

TEST_F(LbTest, ServiceWithoutBackendDropsWithNoServiceAndAnEvent) {
  setServices({{kFront80,
                {.backends = {{.ip = kPeerA, .port = 80, .state = LbBackendState::Terminating}}}}});
  drainEvents();
  auto r = out(tcp(kPod, 43000, kVip, 80, kTcpSyn));
  EXPECT_EQ(r.retval, kTcShot);
  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].drop_reason, MEMBRANE_DROP_NO_SERVICE);
  EXPECT_EQ(evs[0].daddr, htonl(kVip));
  EXPECT_EQ(dropReasonName(evs[0].drop_reason), "NO_SERVICE");
}

TEST_F(LbTest, PolicySeesTheBackendPort) {
  // Same backends; the policy allows their port 80, not 8080.
  setServices(
      {{kFront80, twoBackends(80)}, {{.vip = kVip, .port = 8080, .proto = 6}, twoBackends(8080)}});
  drainEvents();
  EXPECT_EQ(out(tcp(kPod, 44000, kVip, 80, kTcpSyn)).retval, kTcOk);
  EXPECT_EQ(out(tcp(kPod, 44001, kVip, 8080, kTcpSyn)).retval, kTcShot);
  auto evs = drainEvents();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[1].drop_reason, MEMBRANE_DROP_POLICY);
  EXPECT_EQ(ntohs(evs[1].dport), 8080);
  EXPECT_TRUE(evs[1].dst_identity == kIdA || evs[1].dst_identity == kIdB);  // the backend's
  EXPECT_NE(evs[1].daddr, htonl(kVip));
}

TEST_F(LbTest, MaglevPicksByTheFlowHash) {
  setServices({{kFront80,
                {.backends = {{.ip = kPeerA, .port = 80},
                              {.ip = kPeerB, .port = 80},
                              {.ip = kPeerB2, .port = 80}},
                 .algorithm = LbAlgorithm::Maglev}}});
  const std::vector<std::pair<uint32_t, uint16_t>> all = {
      {kPeerA, 80}, {kPeerB, 80}, {kPeerB2, 80}};
  std::map<uint16_t, uint32_t> first;
  std::set<uint32_t> chosen;
  for (uint16_t sport = 45000; sport < 45048; ++sport) {
    const PacketSpec s = tcp(kPod, sport, kVip, 80, kTcpSyn);
    first[sport] = dnatTarget(out(s), s, all).first;
    ASSERT_NE(first[sport], 0u);
    chosen.insert(first[sport]);
  }
  EXPECT_EQ(chosen.size(), 3u);
  // Without conntrack (another node, a restart) the same 5-tuple maps to the same backend.
  ASSERT_TRUE(clearConntrack());
  for (uint16_t sport = 45000; sport < 45048; ++sport) {
    const PacketSpec s = tcp(kPod, sport, kVip, 80, kTcpSyn);
    EXPECT_EQ(dnatTarget(out(s), s, all).first, first[sport]);
  }
}

TEST_F(LbTest, WriterReadsBackAndAdoptsTheKernelMaps) {
  const LbFrontend mag{.vip = kVip, .port = 443, .proto = 6};
  const ServiceState s = {{kFront80, twoBackends(80)},
                          {mag, twoBackends(443, LbAlgorithm::Maglev, 30)}};
  setServices(s);
  auto back = lb_->readBack();
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, s);  // all active, sorted by address, no node: as written
  // The installed Maglev table: full, and naming only this service's backends.
  LbMaps maps = dp_->lbMaps();
  auto table = maps.maglev->installed(lb_->revNatOf(mag));
  ASSERT_TRUE(table.ok() && *table);
  auto entries = TypedMap<uint32_t, uint32_t>::wrap(**table)->entries();
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), size_t{MEMBRANE_LB_MAGLEV_TABLE_SIZE});
  const std::set<uint32_t> ids = {lb_->backendIdOf(kPeerA, 443, 6),
                                  lb_->backendIdOf(kPeerB, 443, 6)};
  std::map<uint32_t, size_t> share;
  for (const auto& [slot, id] : *entries) ++share[id];
  ASSERT_EQ(share.size(), 2u);
  for (const auto& [id, n] : share) {
    EXPECT_TRUE(ids.contains(id));
    EXPECT_GE(n, size_t{MEMBRANE_LB_MAGLEV_TABLE_SIZE / 2});  // floor(M/N) each
  }
  // A restarted agent over the same maps: same ids, nothing written.
  LbWriter again(maps);
  auto c = again.apply(s);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_TRUE(c->empty());
  EXPECT_EQ(again.revNatOf(mag), lb_->revNatOf(mag));
  EXPECT_EQ(again.backendIdOf(kPeerA, 80, 6), lb_->backendIdOf(kPeerA, 80, 6));
}

// A Maglev table size other than the compiled default, set at load time.
class LbSmallMaglevTest : public LbTest {
 protected:
  DatapathConfig lbConfig() override {
    DatapathConfig c = smallConfig();
    c.maglev_table_size = 251;
    return c;
  }
};

TEST_F(LbSmallMaglevTest, TableSizeIsALoadTimeKnob) {
  DatapathConfig bad = smallConfig();
  bad.maglev_table_size = 255;  // 3 * 5 * 17
  ASSERT_FALSE(bad.validate().ok());
  EXPECT_NE(bad.validate().error().context.find("maglev_table_size 255: expected a prime"),
            std::string::npos);
  setServices({{kFront80,
                {.backends = {{.ip = kPeerA, .port = 80}, {.ip = kPeerB, .port = 80}},
                 .algorithm = LbAlgorithm::Maglev}}});
  auto table = dp_->lbMaps().maglev->installed(lb_->revNatOf(kFront80));
  ASSERT_TRUE(table.ok() && *table);
  auto typed = TypedMap<uint32_t, uint32_t>::wrap(**table);
  ASSERT_TRUE(typed.ok());
  EXPECT_EQ(typed->entries()->size(), 251u);
  std::map<uint16_t, uint32_t> first;
  for (uint16_t sport = 47000; sport < 47032; ++sport) {
    const PacketSpec s = tcp(kPod, sport, kVip, 80, kTcpSyn);
    first[sport] = dnatTarget(out(s), s, kBackends80).first;
    ASSERT_NE(first[sport], 0u);
  }
  ASSERT_TRUE(clearConntrack());
  for (uint16_t sport = 47000; sport < 47032; ++sport) {
    const PacketSpec s = tcp(kPod, sport, kVip, 80, kTcpSyn);
    EXPECT_EQ(dnatTarget(out(s), s, kBackends80).first, first[sport]);
  }
}

// Without the decision cache, so that a full-path packet really reads the (emptied) policy.
class LbFastPathTest : public LbTest {
 protected:
  DatapathConfig lbConfig() override {
    DatapathConfig c = smallConfig();
    c.policy_cache = false;
    return c;
  }
};

TEST_F(LbFastPathTest, EstablishedServiceFlowTakesTheFastPathWithItsDnat) {
  setServices({{kFront80, {.backends = {{.ip = kPeerA, .port = 80}}}}});
  const PacketSpec syn = tcp(kPod, 46000, kVip, 80, kTcpSyn);
  ASSERT_EQ(dnatTarget(out(syn), syn, {{kPeerA, 80}}).first, kPeerA);
  // Empty the endpoint's installed policy behind the writer's back (no revision bump): only
  // a packet decided from its conntrack entry can still pass.
  auto inner = dp_->policyStore().installed(kEndpointId);
  ASSERT_TRUE(inner.ok() && *inner);
  auto keys = (*inner)->keys();
  ASSERT_TRUE(keys.ok());
  for (const Bytes& k : *keys) ASSERT_TRUE((*inner)->erase(k).ok());
  const PacketSpec ack = tcp(kPod, 46000, kVip, 80, kTcpAck);
  auto r = out(ack);
  EXPECT_EQ(r.retval, kTcOk);
  EXPECT_EQ(dnatTarget(r, ack, {{kPeerA, 80}}).first, kPeerA);
  // Control: a new flow takes the full path and finds no policy entry.
  EXPECT_EQ(out(tcp(kPod, 46001, kVip, 80, kTcpSyn)).retval, kTcShot);
}

}  // namespace
}  // namespace membrane::dataplane::testing
