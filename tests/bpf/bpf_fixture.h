// SPDX-License-Identifier: Apache-2.0
// Shared set-up for the privileged BPF tests: a loaded datapath with small maps, one local
// endpoint and a few peers in the ipcache. Skips (with the reason) when not root or when the
// kernel refuses to load the programs.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "dataplane/datapath.h"
#include "dataplane/ipcache_writer.h"
#include "dataplane/observe.h"
#include "dataplane/packet.h"
#include "dataplane/policy_writer.h"
#include "dataplane/proxy_writer.h"
#include "model/mapstate.h"
#include "tests/support/privileged.h"

namespace membrane::dataplane::testing {

inline constexpr uint32_t kPod = ipv4Addr(10, 0, 0, 1);
inline constexpr uint16_t kEndpointId = 7;
inline constexpr model::IdentityId kPodIdentity = 1001;
inline constexpr uint32_t kPeerA = ipv4Addr(10, 0, 1, 1);  // /32, identity 2001
inline constexpr model::IdentityId kIdA = 2001;
inline constexpr uint32_t kPeerB = ipv4Addr(10, 0, 2, 5);  // in 10.0.2.0/24, identity 2002
inline constexpr model::IdentityId kIdB = 2002;
inline constexpr uint32_t kWorld = ipv4Addr(8, 8, 8, 8);  // ipcache miss: identity 2
inline constexpr int kTcOk = 0;
inline constexpr int kTcShot = 2;

inline DatapathConfig smallConfig() {
  return {.policy_map_size = 1024,
          .max_endpoints = 64,
          .ipcache_size = 1024,
          .endpoints_size = 64,
          .ct_size = 4096,
          .events_bytes = 1 << 20};
}

inline model::MapKey mkey(model::IdentityId id, model::Direction dir, uint8_t proto, uint16_t port,
                          uint8_t prefix) {
  return {.identity = id, .direction = dir, .protocol = proto, .port = port, .prefix_len = prefix};
}
inline model::MapValue mallow(uint32_t cookie) { return {.cookie = cookie}; }
inline model::MapValue mdeny(uint32_t cookie) {
  return {
      .verdict = model::EntryVerdict::Deny, .precedence = model::kPrecedenceDeny, .cookie = cookie};
}
inline model::MapValue mredirect(uint16_t port, uint32_t cookie) {
  return {.verdict = model::EntryVerdict::Redirect,
          .proxy_port = port,
          .precedence = model::kPrecedenceRedirectBase | 0x9A,
          .cookie = cookie};
}

class BpfTest : public ::testing::Test {
 protected:
  void SetUp() override { setUpWith(smallConfig()); }

  void setUpWith(const DatapathConfig& config) {
    MEMBRANE_REQUIRE_OR_SKIP(geteuid() == 0, "needs root to load BPF programs");
    auto dp = Datapath::load(config);
    MEMBRANE_REQUIRE_OR_SKIP(dp, "kernel refused the datapath: " << dp.error().message());
    dp_ = std::move(*dp);
    policy_ = std::make_unique<PolicyWriter>(dp_->policyStore());
    ipcache_ = std::make_unique<IpcacheWriter>(dp_->ipcache());
    endpoints_ = std::make_unique<EndpointWriter>(dp_->endpoints());
    proxy_ports_ = std::make_unique<ProxyPortWriter>(dp_->proxyPorts());
    auto ev = EventReader::create(dp_->eventsFd());
    ASSERT_TRUE(ev.ok()) << ev.error().message();
    events_ = std::move(*ev);
    // test_run skbs arrive on the loopback device (ifindex 1).
    ASSERT_TRUE(
        endpoints_
            ->apply({{kPod, {.endpoint_id = kEndpointId, .identity = kPodIdentity, .ifindex = 1}}})
            .ok());
    ASSERT_TRUE(ipcache_
                    ->apply({{{.addr = kPeerA, .len = 32}, {.identity = kIdA}},
                             {{.addr = ipv4Addr(10, 0, 2, 0), .len = 24}, {.identity = kIdB}},
                             {{.addr = kPod, .len = 32}, {.identity = kPodIdentity}}})
                    .ok());
  }

  void setPolicy(const model::MapState& s) {
    auto r = policy_->apply(kEndpointId, s);
    ASSERT_TRUE(r.ok()) << r.error().message();
  }

  TestRunResult run(Program p, const PacketSpec& spec) {
    auto r = dp_->testRun(p, buildIpv4Frame(spec));
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? *r : TestRunResult{};
  }
  TestRunResult out(const PacketSpec& spec) { return run(Program::FromContainer, spec); }
  TestRunResult in(const PacketSpec& spec) { return run(Program::ToContainer, spec); }

  // Forgets every connection, so that the next packet of any flow is NEW. Returns false
  // when the conntrack map cannot be read or emptied.
  bool clearConntrack() {
    auto ct = readConntrack(dp_->conntrack());
    if (!ct.ok()) return false;
    auto typed = TypedMap<CtTuple, CtEntry>::wrap(dp_->conntrack());
    for (const CtRecord& rec : *ct) {
      if (!typed->erase(rec.tuple).ok()) return false;
    }
    return true;
  }

  std::vector<FlowEvent> drainEvents() {
    auto r = events_->drain();
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<FlowEvent>{};
  }

  std::unique_ptr<Datapath> dp_;
  std::unique_ptr<PolicyWriter> policy_;
  std::unique_ptr<IpcacheWriter> ipcache_;
  std::unique_ptr<EndpointWriter> endpoints_;
  std::unique_ptr<ProxyPortWriter> proxy_ports_;  // empty map: every L7 redirect drops
  std::unique_ptr<EventReader> events_;
};

// Packet helpers: pod is always one end.
inline PacketSpec tcp(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                      uint8_t flags = kTcpSyn) {
  return {.saddr = src,
          .daddr = dst,
          .protocol = 6,
          .sport = sport,
          .dport = dport,
          .tcp_flags = flags};
}
inline PacketSpec udp(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) {
  return {.saddr = src, .daddr = dst, .protocol = 17, .sport = sport, .dport = dport};
}
inline PacketSpec sctp(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) {
  return {.saddr = src, .daddr = dst, .protocol = 132, .sport = sport, .dport = dport};
}
inline PacketSpec icmp(uint32_t src, uint32_t dst, uint8_t type, uint16_t id = 0x42) {
  return {.saddr = src, .daddr = dst, .protocol = 1, .icmp_type = type, .icmp_id = id};
}

}  // namespace membrane::dataplane::testing
