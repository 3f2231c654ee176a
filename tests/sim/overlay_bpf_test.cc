// SPDX-License-Identifier: Apache-2.0
// The overlay programs under BPF_PROG_TEST_RUN: from-container encapsulates (redirect, inner
// destination MAC = the VXLAN devices' MAC) exactly when the ipcache names a tunnel
// endpoint; to-container takes the source identity from the overlay mark, once, and from
// the ipcache otherwise.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "dataplane/agent.h"
#include "dataplane/observe.h"
#include "dataplane/packet.h"
#include "sim/agents.h"
#include "tests/support/privileged.h"

namespace membrane::sim {
namespace {

using dataplane::ipv4Addr;

constexpr uint32_t kLocal = ipv4Addr(10, 1, 1, 10);
constexpr uint32_t kRemote = ipv4Addr(10, 1, 2, 10);
constexpr uint32_t kRemoteNode = ipv4Addr(192, 168, 50, 2);
constexpr uint32_t kWorld = ipv4Addr(8, 8, 8, 8);
constexpr model::IdentityId kLocalId = 300, kRemoteId = 400, kForgedId = 500;
constexpr int kTcOk = 0, kTcShot = 2, kTcRedirect = 7;

class OverlayBpf : public ::testing::Test {
 protected:
  void SetUp() override {
    MEMBRANE_REQUIRE_OR_SKIP(geteuid() == 0, "needs root to load BPF programs");
    auto a = dataplane::NodeAgent::create(simDatapathConfig(/*tunnel_ifindex=*/1));
    MEMBRANE_REQUIRE_OR_SKIP(a, "kernel refused the datapath: " << a.error().message());
    agent_ = std::move(*a);
    model::MapState allow_all;
    for (auto dir : {model::Direction::Ingress, model::Direction::Egress}) {
      allow_all.entries[{.identity = 0, .direction = dir}] = {};
    }
    dataplane::NodeState st;
    st.endpoints.push_back(
        {.name = "ns/local", .ip = kLocal, .identity = kLocalId, .policy = allow_all});
    st.ipcache[{.addr = kLocal, .len = 32}] = {.identity = kLocalId};
    st.ipcache[{.addr = kRemote, .len = 32}] = {.identity = kRemoteId,
                                                .tunnel_endpoint = kRemoteNode,
                                                .flags = MEMBRANE_IPCACHE_F_HAS_TUNNEL_EP};
    st.ipcache[{.addr = kRemoteNode, .len = 32}] = {.identity = model::kIdentityRemoteNode};
    auto r = agent_->reconcile(st);
    ASSERT_TRUE(r.ok()) << r.error().message();
    auto ev = dataplane::EventReader::create(agent_->datapath().eventsFd());
    ASSERT_TRUE(ev.ok());
    events_ = std::move(*ev);
  }

  dataplane::TestRunResult run(dataplane::Program p, uint32_t src, uint32_t dst, uint16_t sport,
                               uint32_t mark = 0) {
    auto frame = dataplane::buildIpv4Frame(
        {.saddr = src, .daddr = dst, .protocol = 6, .sport = sport, .dport = 80});
    auto r = agent_->datapath().testRun(p, frame, 1, mark);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : dataplane::TestRunResult{};
  }

  std::unique_ptr<dataplane::NodeAgent> agent_;
  std::unique_ptr<dataplane::EventReader> events_;
};

TEST_F(OverlayBpf, EncapsulatesOnlyTowardsTunnelEndpoints) {
  auto r = run(dataplane::Program::FromContainer, kLocal, kRemote, 40001);
  EXPECT_EQ(r.retval, kTcRedirect);
  const auto mac = simDatapathConfig(1).tunnel_mac;
  ASSERT_GE(r.data_out.size(), 6u);
  EXPECT_TRUE(std::equal(mac.begin(), mac.end(), r.data_out.begin()))
      << "inner destination MAC is not the VXLAN devices' MAC";
  EXPECT_EQ(run(dataplane::Program::FromContainer, kLocal, kWorld, 40002).retval, kTcOk);
  EXPECT_EQ(run(dataplane::Program::FromContainer, kLocal, kRemoteNode, 40003).retval, kTcOk);
}

TEST_F(OverlayBpf, SourceIdentityFromTheOverlayMark) {
  ASSERT_TRUE(events_->drain().ok());
  // From the tunnel: the VNI's identity (forged here) wins over the ipcache's.
  EXPECT_EQ(run(dataplane::Program::ToContainer, kRemote, kLocal, 40010,
                MEMBRANE_MARK_MAGIC_IDENTITY | kForgedId)
                .retval,
            kTcOk);
  // Without the mark: the ipcache.
  EXPECT_EQ(run(dataplane::Program::ToContainer, kRemote, kLocal, 40011).retval, kTcOk);
  // A mark without the magic is not an identity.
  EXPECT_EQ(run(dataplane::Program::ToContainer, kRemote, kLocal, 40012, kForgedId).retval, kTcOk);
  auto evs = events_->drain();
  ASSERT_TRUE(evs.ok());
  std::map<uint16_t, uint32_t> src_id;  // sport -> source identity
  for (const auto& e : *evs) src_id[ntohs(e.sport)] = e.src_identity;
  EXPECT_EQ(src_id[40010], kForgedId);
  EXPECT_EQ(src_id[40011], kRemoteId);
  EXPECT_EQ(src_id[40012], kRemoteId);
}

TEST_F(OverlayBpf, UnknownDestinationWithoutTunnelIsNotEncapsulated) {
  // Native mode datapath: never a redirect.
  auto a = dataplane::NodeAgent::create(simDatapathConfig(0));
  ASSERT_TRUE(a.ok());
  dataplane::NodeState st;
  st.endpoints.push_back({.name = "ns/local", .ip = kLocal, .identity = kLocalId});
  st.endpoints.back().policy.entries[{.identity = 0, .direction = model::Direction::Egress}] = {};
  st.ipcache[{.addr = kRemote, .len = 32}] = {.identity = kRemoteId,
                                              .tunnel_endpoint = kRemoteNode,
                                              .flags = MEMBRANE_IPCACHE_F_HAS_TUNNEL_EP};
  ASSERT_TRUE((*a)->reconcile(st).ok());
  auto frame = dataplane::buildIpv4Frame(
      {.saddr = kLocal, .daddr = kRemote, .protocol = 6, .sport = 40020, .dport = 80});
  auto r = (*a)->datapath().testRun(dataplane::Program::FromContainer, frame);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->retval, kTcOk);
  EXPECT_NE(r->retval, kTcShot);
}

}  // namespace
}  // namespace membrane::sim
