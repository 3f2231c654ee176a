// SPDX-License-Identifier: Apache-2.0
// The conntrack fast path never outlives the verdict it cached. Random interleavings of
// policy swaps, ipcache identity changes, proxy (de)registrations and packets of a fixed set
// of flows (both directions, both programs): every forward packet gets exactly the verdict
// model::lookupMapState gives under the state in force when it is sent (so no packet passes
// after a change that denies it, and none is dropped that the state allows); a reply passes
// when its connection was accepted before. After an accepted forward packet its conntrack
// entry carries the current revision, so the next packet of that flow takes the fast path.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <array>
#include <optional>
#include <vector>

#include "tests/bpf/bpf_fixture.h"
#include "tests/support/cluster_gen.h"

namespace membrane::dataplane::testing {
namespace {

using model::Direction;

constexpr model::IdentityId kIdB2 = 2003;  // what 10.0.2.0/24 may change to
constexpr uint16_t kProxyUp = 9001;        // listening whenever `proxy_up`
constexpr uint16_t kProxyNone = 9002;      // never registered: redirects to it drop (178)

struct EFlow {
  uint32_t peer;  // kPeerA, kPeerB or kWorld
  Direction dir;
  uint8_t proto;
  uint16_t sport;  // the pod's port when egress, the peer's when ingress
  uint16_t dport;
};

const std::array<EFlow, 6> kFlows = {{
    {kPeerA, Direction::Egress, 6, 41000, 80},
    {kPeerB, Direction::Egress, 17, 41001, 53},
    {kPeerA, Direction::Ingress, 6, 41002, 8080},
    {kPeerB, Direction::Ingress, 6, 41003, 443},
    {kWorld, Direction::Egress, 6, 41004, 443},
    {kPeerB, Direction::Ingress, 17, 41005, 8095},
}};

rc::Gen<model::MapState> genPolicy() {
  return rc::gen::exec([] {
    const std::vector<model::IdentityId> ids = {0, 2, kIdA, kIdB, kIdB2};
    const std::vector<uint16_t> ports = {53, 80, 443, 8080, 8095};
    model::MapState s;
    const int n = *rc::gen::inRange(0, 10);
    for (int i = 0; i < n; ++i) {
      model::MapKey k;
      k.identity = *rc::gen::elementOf(ids);
      k.direction = *rc::gen::element(Direction::Ingress, Direction::Egress);
      k.prefix_len = *rc::gen::element<uint8_t>(0, 8, 24);
      k.protocol = k.prefix_len == 0 ? 0 : *rc::gen::element<uint8_t>(6, 17);
      k.port = k.prefix_len == 24 ? *rc::gen::elementOf(ports) : 0;
      model::MapValue v{.cookie = static_cast<uint32_t>(i + 1)};
      switch (*rc::gen::inRange(0, 5)) {
        case 0:
          v = mdeny(v.cookie);
          break;
        case 1:
          v = mredirect(*rc::gen::element(kProxyUp, kProxyNone), v.cookie);
          break;
        default:  // allow: keeps flows alive long enough to be established
          break;
      }
      s.entries[k] = v;
    }
    return s;
  });
}

PacketSpec forwardPacket(const EFlow& f, uint8_t tcp_flags) {
  const bool egress = f.dir == Direction::Egress;
  return {.saddr = egress ? kPod : f.peer,
          .daddr = egress ? f.peer : kPod,
          .protocol = f.proto,
          .sport = f.sport,
          .dport = f.dport,
          .tcp_flags = f.proto == 6 ? tcp_flags : uint8_t{0}};
}

PacketSpec replyPacket(const EFlow& f) {
  PacketSpec p = forwardPacket(f, kTcpAck);
  std::swap(p.saddr, p.daddr);
  std::swap(p.sport, p.dport);
  return p;
}

class EstablishedPropertyTest : public BpfTest {
 protected:
  // The state the datapath should be deciding with.
  struct World {
    model::MapState policy;
    model::IdentityId id_b = kIdB;
    bool proxy_up = false;
    std::array<bool, kFlows.size()> accepted{};  // a forward packet passed: replies pass
  };

  model::IdentityId identityOf(const World& w, uint32_t peer) const {
    return peer == kPeerA ? kIdA : peer == kPeerB ? w.id_b : model::IdentityId{2};
  }

  // Expected tc action of a forward packet and the proxy port it is marked for (0 = none).
  std::pair<int, uint16_t> expected(const World& w, const EFlow& f) const {
    const auto want =
        model::lookupMapState(w.policy, identityOf(w, f.peer), f.dir, f.proto, f.dport);
    if (!want.found || want.value.verdict == model::EntryVerdict::Deny) return {kTcShot, 0};
    if (want.value.verdict == model::EntryVerdict::Redirect) {
      // Ingress redirects fail closed: the entering packet cannot reach the proxy.
      const bool up =
          want.value.proxy_port == kProxyUp && w.proxy_up && f.dir == Direction::Egress;
      return {up ? kTcOk : kTcShot, up ? want.value.proxy_port : uint16_t{0}};
    }
    return {kTcOk, 0};
  }

  std::optional<CtEntry> entryOf(const EFlow& f) {
    const PacketSpec p = forwardPacket(f, 0);
    CtTuple t{.daddr = htonl(p.daddr),
              .saddr = htonl(p.saddr),
              .dport = htons(p.dport),
              .sport = htons(p.sport),
              .nexthdr = f.proto,
              .flags = static_cast<uint8_t>(f.dir == Direction::Egress ? MEMBRANE_CT_EGRESS
                                                                       : MEMBRANE_CT_INGRESS)};
    auto typed = TypedMap<CtTuple, CtEntry>::wrap(dp_->conntrack());
    if (!typed.ok()) return std::nullopt;
    auto e = typed->lookup(t);
    return e.ok() ? *e : std::nullopt;
  }

  void step(World& w);
};

void EstablishedPropertyTest::step(World& w) {
  switch (*rc::gen::inRange(0, 10)) {
    case 0: {  // policy swap
      w.policy = *genPolicy();
      RC_ASSERT(policy_->apply(kEndpointId, w.policy).ok());
      return;
    }
    case 1: {  // peer B's prefix changes identity
      w.id_b = w.id_b == kIdB ? kIdB2 : kIdB;
      RC_ASSERT(ipcache_
                    ->apply({{{.addr = kPeerA, .len = 32}, {.identity = kIdA}},
                             {{.addr = ipv4Addr(10, 0, 2, 0), .len = 24}, {.identity = w.id_b}},
                             {{.addr = kPod, .len = 32}, {.identity = kPodIdentity}}})
                    .ok());
      return;
    }
    case 2: {  // the L7 proxy comes or goes
      w.proxy_up = !w.proxy_up;
      ProxyPortState s;
      if (w.proxy_up) s[kProxyUp] = {.listening = true};
      RC_ASSERT(proxy_ports_->apply(s).ok());
      return;
    }
    case 3: {  // a reply of an accepted connection passes, whatever the policy says now
      const size_t i = *rc::gen::inRange<size_t>(0, kFlows.size());
      const EFlow& f = kFlows[i];
      // (A reply before any accept would be a NEW flow of its own direction and could
      // legitimately open the connection the other way round; not this property's subject.)
      if (!w.accepted[i]) return;
      auto r =
          dp_->testRun(f.dir == Direction::Egress ? Program::ToContainer : Program::FromContainer,
                       buildIpv4Frame(replyPacket(f)));
      RC_ASSERT(r.ok());
      RC_ASSERT(r->retval == kTcOk);
      return;
    }
    default: {  // a forward packet (mostly established: the fast path)
      const size_t i = *rc::gen::inRange<size_t>(0, kFlows.size());
      const EFlow& f = kFlows[i];
      const uint8_t flags = w.accepted[i] ? kTcpAck : kTcpSyn;
      auto r =
          dp_->testRun(f.dir == Direction::Egress ? Program::FromContainer : Program::ToContainer,
                       buildIpv4Frame(forwardPacket(f, flags)));
      RC_ASSERT(r.ok());
      const auto [action, proxy] = expected(w, f);
      RC_LOG() << "flow " << i << " peer id " << identityOf(w, f.peer) << " proxy_up " << w.proxy_up
               << ": got " << r->retval << ", want " << action << "\n";
      RC_ASSERT(r->retval == action);
      if (proxy != 0) RC_ASSERT(r->mark == (0x0200u | uint32_t{proxy} << 16));
      if (action == kTcOk) {
        w.accepted[i] = true;
        const auto e = entryOf(f);
        const auto rev = dp_->revision();
        RC_ASSERT(e.has_value() && rev.ok());
        RC_ASSERT(e->revision == *rev);
        RC_ASSERT(e->src_identity ==
                  (f.dir == Direction::Egress ? kPodIdentity : identityOf(w, f.peer)));
      }
      return;
    }
  }
}

TEST_F(EstablishedPropertyTest, NoPacketPassesAfterAChangeThatDeniesIt) {
  // 150 runs × 40 steps (about 30 s as root); conntrack starts empty in every run.
  membrane::testing::checkGTestProp(150, [this] {
    RC_ASSERT(clearConntrack());
    World w;
    RC_ASSERT(policy_->apply(kEndpointId, w.policy).ok());
    RC_ASSERT(ipcache_
                  ->apply({{{.addr = kPeerA, .len = 32}, {.identity = kIdA}},
                           {{.addr = ipv4Addr(10, 0, 2, 0), .len = 24}, {.identity = kIdB}},
                           {{.addr = kPod, .len = 32}, {.identity = kPodIdentity}}})
                  .ok());
    RC_ASSERT(proxy_ports_->apply({}).ok());
    for (int s = 0; s < 40; ++s) step(w);
    RC_ASSERT(drainEvents().size() < 1000000u);  // keeps the ring from filling up
  });
}

// Without the decision cache the re-check walks the tries: same property.
TEST_F(EstablishedPropertyTest, NoPacketPassesAfterAChangeThatDeniesItWithoutDecisionCache) {
  DatapathConfig cfg = smallConfig();
  cfg.policy_cache = false;
  dp_.reset();
  setUpWith(cfg);
  if (IsSkipped()) return;
  membrane::testing::checkGTestProp(50, [this] {
    RC_ASSERT(clearConntrack());
    World w;
    RC_ASSERT(policy_->apply(kEndpointId, w.policy).ok());
    RC_ASSERT(proxy_ports_->apply({}).ok());
    RC_ASSERT(ipcache_
                  ->apply({{{.addr = kPeerA, .len = 32}, {.identity = kIdA}},
                           {{.addr = ipv4Addr(10, 0, 2, 0), .len = 24}, {.identity = kIdB}},
                           {{.addr = kPod, .len = 32}, {.identity = kPodIdentity}}})
                  .ok());
    for (int s = 0; s < 40; ++s) step(w);
    RC_ASSERT(drainEvents().size() < 1000000u);
  });
}

}  // namespace
}  // namespace membrane::dataplane::testing
