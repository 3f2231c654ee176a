// SPDX-License-Identifier: Apache-2.0
// IPAM: persisted atomically, never the same address twice across restarts, exhaustion and
// conflicts are clear errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/state.h"
#include "model/ip.h"

namespace membrane::agent {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/membrane-agent-ipam-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

uint32_t ip(const char* s) { return *model::parseIpv4(s); }

TEST(AgentIpam, PersistsAcrossRestartsAndNeverHandsOutTwice) {
  TempDir t;
  const std::string file = t.path + "/ipam.json";
  std::set<uint32_t> seen;
  {
    auto ipam = Ipam::open(file, ip("10.0.1.0"), 24);
    ASSERT_TRUE(ipam.ok());
    auto a = ipam->allocate("c1/eth0");
    auto b = ipam->allocate("c2/eth0");
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, ip("10.0.1.2"));  // .0 network, .1 the node
    EXPECT_EQ(*b, ip("10.0.1.3"));
    seen = {*a, *b};
    ASSERT_TRUE(ipam->release("c1/eth0").ok());
  }
  EXPECT_FALSE(std::filesystem::exists(file + ".tmp"));
  auto ipam = Ipam::open(file, ip("10.0.1.0"), 24);  // "restart"
  ASSERT_TRUE(ipam.ok());
  EXPECT_EQ(ipam->addressOf("c2/eth0"), ip("10.0.1.3"));
  EXPECT_FALSE(ipam->addressOf("c1/eth0"));
  auto c = ipam->allocate("c3/eth0");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(seen.count(*c) && *c == ip("10.0.1.3")) << model::formatIpv4(*c);
  EXPECT_EQ(*c, ip("10.0.1.4"));  // not the just-released .2: no immediate reuse
  EXPECT_EQ(*ipam->allocate("c2/eth0"), ip("10.0.1.3"));  // same owner, same address
}

TEST(AgentIpam, ExhaustedPoolAndConflicts) {
  TempDir t;
  auto ipam = Ipam::open(t.path + "/ipam.json", ip("10.0.1.0"), 29);  // 8 addresses, 5 usable
  ASSERT_TRUE(ipam.ok());
  EXPECT_EQ(ipam->capacity(), 5u);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(ipam->allocate("c" + std::to_string(i)).ok());
  auto full = ipam->allocate("c9");
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, ENOSPC);
  EXPECT_NE(full.error().context.find("exhausted"), std::string::npos);
  auto taken = ipam->allocate("x", ip("10.0.1.2"));
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code, EADDRINUSE);
  auto outside = ipam->allocate("y", ip("10.0.2.2"));
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().code, EINVAL);
  auto node = ipam->allocate("z", ip("10.0.1.1"));  // the node's own address
  EXPECT_FALSE(node.ok());
}

TEST(AgentIpam, LeaseOutsideTheCidrIsAnErrorOnOpen) {
  TempDir t;
  const std::string file = t.path + "/ipam.json";
  std::ofstream(file) << R"({"next": 0, "leases": {"10.9.9.9": "c1/eth0"}})";
  auto ipam = Ipam::open(file, ip("10.0.1.0"), 24);
  ASSERT_FALSE(ipam.ok());
  EXPECT_NE(ipam.error().context.find("outside the pod CIDR"), std::string::npos);
  std::ofstream(file) << "{not json";
  EXPECT_FALSE(Ipam::open(file, ip("10.0.1.0"), 24).ok());
}

// A requested address outside the pod CIDR: refused by default; leased and persisted when
// the configuration allows it (pods that keep addresses given elsewhere, e.g. replayed by
// the simulator); the pool's own range and the next-free search are unaffected.
TEST(AgentIpam, RequestedOutsideThePoolOnlyWhenAllowed) {
  TempDir t;
  const std::string file = t.path + "/ipam.json";
  {
    auto strict = Ipam::open(file, ip("10.0.1.0"), 24);
    ASSERT_TRUE(strict.ok());
    auto r = strict->allocate("c1", ip("10.9.9.9"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EINVAL);
  }
  {
    auto ipam = Ipam::open(file, ip("10.0.1.0"), 24, true);
    ASSERT_TRUE(ipam.ok());
    ASSERT_EQ(*ipam->allocate("c1", ip("10.9.9.9")), ip("10.9.9.9"));
    EXPECT_FALSE(ipam->allocate("c2", ip("10.9.9.9")).ok());  // held by c1
    EXPECT_FALSE(ipam->allocate("c3", ip("10.0.1.1")).ok());  // the node's, still refused
    EXPECT_EQ(*ipam->allocate("c4"), ip("10.0.1.2"));         // next free: in the pool
    EXPECT_EQ(ipam->available(), ipam->capacity() - 1);       // the outside lease not counted
  }
  auto again = Ipam::open(file, ip("10.0.1.0"), 24, true);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->addressOf("c1"), ip("10.9.9.9"));
  // Reopened without the permission, the outside lease is an error naming it.
  auto strict = Ipam::open(file, ip("10.0.1.0"), 24);
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.error().message().find("10.9.9.9"), std::string::npos);
}

}  // namespace
}  // namespace membrane::agent
