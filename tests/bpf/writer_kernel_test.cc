// SPDX-License-Identifier: Apache-2.0
// Writers against the kernel: read back, atomic policy swaps under live traffic, pinning.
#include <sys/mount.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "tests/bpf/bpf_fixture.h"
#include "tests/support/privileged.h"

namespace membrane::dataplane::testing {
namespace {

using model::Direction;

TEST_F(BpfTest, WritersReadBackWhatTheKernelHolds) {
  model::MapState s;
  s.entries[mkey(kIdA, Direction::Egress, 6, 8080, 20)] = mallow(1);
  s.entries[mkey(0, Direction::Ingress, 0, 0, 0)] = mdeny(2);
  s.entries[mkey(kIdB, Direction::Egress, 6, 80, 24)] = mredirect(15001, 3);
  setPolicy(s);
  auto back = policy_->readBack(kEndpointId);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->entries, s.entries);
  auto ipc = ipcache_->readBack();
  ASSERT_TRUE(ipc.ok());
  EXPECT_EQ(ipc->size(), 3u);
  EXPECT_EQ(ipc->at({.addr = ipv4Addr(10, 0, 2, 0), .len = 24}).identity, kIdB);
  auto eps = endpoints_->readBack();
  ASSERT_TRUE(eps.ok());
  EXPECT_EQ(eps->at(kPod).endpoint_id, kEndpointId);
  // membrane_proxy_ports starts empty (every L7 redirect drops) and reads back what is set.
  auto proxies = proxy_ports_->readBack();
  ASSERT_TRUE(proxies.ok()) << proxies.error().message();
  EXPECT_TRUE(proxies->empty());
  const ProxyPortState want = {{15001, {.ifindex = 4, .listening = true}}, {15002, {}}};
  ASSERT_TRUE(proxy_ports_->apply(want).ok());
  EXPECT_EQ(*ProxyPortWriter(dp_->proxyPorts()).readBack(), want);
  // A second writer over the same kernel maps (agent restart) finds nothing to do.
  PolicyWriter again(dp_->policyStore());
  auto c = again.apply(kEndpointId, s);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->empty());
}

TEST_F(BpfTest, IpcacheChangeMovesThePeerToAnotherIdentity) {
  model::MapState s;
  s.entries[mkey(kIdB, Direction::Egress, 0, 0, 0)] = mallow(1);
  setPolicy(s);
  EXPECT_EQ(out(tcp(kPod, 40000, kPeerA, 80)).retval, kTcShot);
  ASSERT_TRUE(ipcache_
                  ->apply({{{.addr = kPeerA, .len = 32}, {.identity = kIdB}},
                           {{.addr = kPod, .len = 32}, {.identity = kPodIdentity}}})
                  .ok());
  EXPECT_EQ(out(tcp(kPod, 40001, kPeerA, 80)).retval, kTcOk);
  EXPECT_EQ(out(tcp(kPod, 40002, kPeerB, 80)).retval, kTcShot);  // now world: /24 removed
}

// Two policies that both deny (A, TCP 80) and both allow (A, UDP 53), but whose union
// allows TCP 80. A thread test-runs packets while the main thread swaps between them.
TEST_F(BpfTest, PolicySwapsNeverExposeAMixedState) {
  model::MapState p1, p2;
  p1.entries[mkey(kIdA, Direction::Egress, 6, 80, 24)] = mallow(1);
  p1.entries[mkey(0, Direction::Egress, 6, 0, 8)] = mdeny(2);
  p1.entries[mkey(kIdA, Direction::Egress, 17, 53, 24)] = mallow(3);
  p2.entries[mkey(kIdA, Direction::Egress, 0, 0, 0)] = mdeny(4);
  p2.entries[mkey(0, Direction::Egress, 6, 80, 24)] = mallow(5);
  p2.entries[mkey(kIdA, Direction::Egress, 17, 53, 24)] = mallow(6);
  p2.entries[mkey(kIdA, Direction::Egress, 17, 0, 8)] = mallow(7);
  setPolicy(p1);

  const auto tcp80 = buildIpv4Frame(tcp(kPod, 40000, kPeerA, 80));
  const auto udp53 = buildIpv4Frame(udp(kPod, 40000, kPeerA, 53));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> runs{0}, wrong{0};
  const int prog = dp_->programFd(Program::FromContainer);
  std::thread traffic([&] {
    while (!stop.load()) {
      auto a = testRunTc(prog, tcp80, 50);
      auto b = testRunTc(prog, udp53, 50);
      if (!a.ok() || !b.ok() || a->retval != kTcShot || b->retval != kTcOk) ++wrong;
      runs += 2;
    }
  });
  for (int i = 0; i < 60; ++i) {
    auto r = policy_->apply(kEndpointId, i % 2 == 0 ? p2 : p1);
    ASSERT_TRUE(r.ok()) << r.error().message();
  }
  stop = true;
  traffic.join();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_GT(runs.load(), 10u);
}

TEST(Pinning, MapsSurviveAReloadUnderAConfiguredBpffs) {
  MEMBRANE_REQUIRE_OR_SKIP(geteuid() == 0, "needs root (mount, BPF)");
  const std::string root = "/tmp/mbt" + std::to_string(getpid()) + "-bpffs";
  struct Cleanup {
    std::string root;
    ~Cleanup() {
      umount2(root.c_str(), MNT_DETACH);
      std::error_code ec;
      std::filesystem::remove_all(root, ec);
    }
  } cleanup{root};
  DatapathConfig cfg = smallConfig();
  cfg.bpffs_root = root;
  {
    auto dp = Datapath::load(cfg);
    MEMBRANE_REQUIRE_OR_SKIP(dp, "kernel refused: " << dp.error().message());
    IpcacheWriter w((*dp)->ipcache());
    ASSERT_TRUE(w.apply({{{.addr = kPeerA, .len = 32}, {.identity = kIdA}}}).ok());
    PolicyWriter pw((*dp)->policyStore());
    model::MapState s;
    s.entries[mkey(kIdA, Direction::Egress, 6, 80, 24)] = mallow(1);
    ASSERT_TRUE(pw.apply(kEndpointId, s).ok());
  }
  EXPECT_TRUE(std::filesystem::exists(root + "/membrane/membrane_ipcache"));
  auto dp = Datapath::load(cfg);
  ASSERT_TRUE(dp.ok()) << dp.error().message();
  IpcacheWriter w((*dp)->ipcache());
  auto back = w.readBack();
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->size(), 1u);
  PolicyWriter pw((*dp)->policyStore());
  auto pol = pw.readBack(kEndpointId);
  ASSERT_TRUE(pol.ok());
  EXPECT_EQ(pol->entries.size(), 1u);  // the inner map lives on through the pinned outer map
  EXPECT_TRUE((*dp)->unpin().ok());
  EXPECT_FALSE(std::filesystem::exists(root + "/membrane/membrane_ipcache"));
}

}  // namespace
}  // namespace membrane::dataplane::testing
