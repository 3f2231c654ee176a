// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <optional>

#include "dataplane/ipcache_writer.h"
#include "dataplane/map.h"
#include "dataplane/observe.h"
#include "dataplane/proxy_writer.h"

namespace membrane::dataplane {
namespace {

TEST(FakeMap, HonoursUpdateFlagsAndCapacity) {
  FakeMap m("m", 4, 4, 2);
  auto t = TypedMap<uint32_t, uint32_t>::wrap(m);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->update(1, 10, kUpdateNoExist).ok());
  EXPECT_EQ(t->update(1, 11, kUpdateNoExist).error().code, EEXIST);
  EXPECT_EQ(t->update(2, 20, kUpdateExist).error().code, ENOENT);
  EXPECT_TRUE(t->update(2, 20).ok());
  EXPECT_EQ(t->update(3, 30).error().code, E2BIG);
  EXPECT_EQ(**t->lookup(1), 10u);
  EXPECT_TRUE(*t->erase(1));
  EXPECT_FALSE(*t->erase(1));
  EXPECT_FALSE(t->lookup(1)->has_value());
  EXPECT_EQ(t->entries()->size(), 1u);
}

TEST(TypedMap, RefusesAMapOfTheWrongShape) {
  FakeMap m("m", 8, 4, 2);
  auto t = TypedMap<uint32_t, uint32_t>::wrap(m);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().context.find("expected 4/4"), std::string::npos);
}

TEST(Ipv4Prefix, ParsesAndRejectsPrecisely) {
  EXPECT_EQ(parseIpv4Prefix("10.0.0.0/24")->len, 24);
  EXPECT_EQ(parseIpv4Prefix("10.1.2.3")->len, 32);
  EXPECT_EQ(parseIpv4Prefix("10.1.2.3")->addr, 0x0A010203u);
  EXPECT_FALSE(parseIpv4Prefix("10.0.0.1/24").ok());  // host bits
  EXPECT_FALSE(parseIpv4Prefix("10.0.0.0/33").ok());
  EXPECT_FALSE(parseIpv4Prefix("10.0.0/8").ok());
  EXPECT_EQ(parseIpv4Prefix("10.0.0.0/24")->str(), "10.0.0.0/24");
}

TEST(IpcacheWriter, AppliesDifferencesInASafeOrder) {
  FakeMap m("membrane_ipcache", sizeof(IpcacheKey), sizeof(IpcacheInfo), 100);
  IpcacheWriter w(m);
  IpcacheState s1 = {{*parseIpv4Prefix("10.0.0.0/16"), {.identity = 100}},
                     {*parseIpv4Prefix("10.0.1.1"), {.identity = 200}}};
  auto c1 = w.apply(s1);
  ASSERT_TRUE(c1.ok());
  ASSERT_EQ(c1->upserted.size(), 2u);
  EXPECT_EQ(c1->upserted[0].len, 32);  // longest first
  EXPECT_EQ(*w.readBack(), s1);

  IpcacheState s2 = {{*parseIpv4Prefix("10.0.0.0/24"), {.identity = 300, .tunnel_endpoint = 7}},
                     {*parseIpv4Prefix("10.0.1.1"), {.identity = 200}}};
  auto c2 = w.apply(s2);
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(c2->upserted.size(), 1u);
  ASSERT_EQ(c2->removed.size(), 1u);
  EXPECT_EQ(c2->removed[0].len, 16);
  EXPECT_EQ(*w.readBack(), s2);
  EXPECT_TRUE(w.apply(s2)->empty());

  // A fresh writer (agent restart) adopts the map and has nothing to do.
  IpcacheWriter again(m);
  EXPECT_TRUE(again.apply(s2)->empty());
  EXPECT_FALSE(w.apply({{{.addr = 0x0A000001, .len = 24}, {}}}).ok());  // not canonical
}

// The datapath's ipcache lookup over the fake map's current contents.
std::optional<IpcacheEntry> lpm(const FakeMap& m, uint32_t addr) {
  std::optional<IpcacheEntry> best;
  int best_len = -1;
  for (const auto& [k, v] : m.contents()) {
    IpcacheKey key;
    IpcacheInfo info;
    std::memcpy(&key, k.data(), sizeof(key));
    std::memcpy(&info, v.data(), sizeof(info));
    const Ipv4Prefix p = decodeIpcacheKey(key);
    const uint32_t mask = p.len == 0 ? 0 : ~0u << (32 - p.len);
    if ((addr & mask) == p.addr && p.len > best_len) {
      best_len = p.len;
      best = IpcacheEntry{.identity = info.sec_identity};
    }
  }
  return best;
}

RC_GTEST_PROP(IpcacheWriterProp, AddressesWithTheSameIdentityNeverFlap, ()) {
  const std::vector<uint32_t> addrs = {0x0A000001, 0x0A000002, 0x0A000101, 0x0A010001, 0x0B000001};
  auto genState = [&] {
    IpcacheState s;
    const int n = *rc::gen::inRange(0, 8);
    for (int i = 0; i < n; ++i) {
      const uint8_t len = *rc::gen::element<uint8_t>(8, 16, 24, 30, 32);
      const uint32_t mask = ~0u << (32 - len);
      s[{.addr = *rc::gen::elementOf(addrs) & mask, .len = len}] = {
          .identity = *rc::gen::element<uint32_t>(100, 200, 300)};
    }
    return s;
  };
  const IpcacheState before = genState();
  const IpcacheState after = genState();
  FakeMap m("membrane_ipcache", sizeof(IpcacheKey), sizeof(IpcacheInfo), 100);
  IpcacheWriter w(m);
  RC_ASSERT(w.apply(before).ok());
  const auto beforeIds = [&] {
    std::vector<std::optional<IpcacheEntry>> out;
    for (uint32_t a : addrs) out.push_back(lpm(m, a));
    return out;
  }();
  FakeMap probe("probe", sizeof(IpcacheKey), sizeof(IpcacheInfo), 100);
  IpcacheWriter pw(probe);
  RC_ASSERT(pw.apply(after).ok());
  bool ok = true;
  m.setObserver([&] {
    for (size_t i = 0; i < addrs.size(); ++i) {
      auto want = lpm(probe, addrs[i]);
      if (want == beforeIds[i] && lpm(m, addrs[i]) != want) ok = false;
    }
  });
  RC_ASSERT(w.apply(after).ok());
  RC_ASSERT(ok);
  RC_ASSERT(*w.readBack() == after);
}

TEST(EndpointWriter, UpsertsAndRemoves) {
  FakeMap m("membrane_endpoints", sizeof(EndpointKey), sizeof(EndpointInfo), 10);
  EndpointWriter w(m);
  EndpointState s = {{0x0A000001, {.endpoint_id = 7, .identity = 1001, .ifindex = 3}},
                     {0x0A000002, {.endpoint_id = 8, .identity = 1002, .ifindex = 4}}};
  ASSERT_EQ(w.apply(s)->upserted.size(), 2u);
  EXPECT_EQ(*w.readBack(), s);
  s.erase(0x0A000002);
  s[0x0A000001].identity = 1003;
  auto c = w.apply(s);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->upserted.size(), 1u);
  EXPECT_EQ(c->removed.size(), 1u);
  EXPECT_EQ(*w.readBack(), s);
}

TEST(Names, FollowHubble) {
  EXPECT_EQ(dropReasonName(133), "POLICY_DENIED");
  EXPECT_EQ(dropReasonName(181), "POLICY_DENY");
  EXPECT_EQ(dropReasonName(MEMBRANE_DROP_PROXY_LOOKUP_FAILED), "PROXY_LOOKUP_FAILED");
  EXPECT_EQ(MEMBRANE_DROP_PROXY_LOOKUP_FAILED, 178);  // Cilium/Hubble DROP_PROXY_LOOKUP_FAILED
  EXPECT_EQ(verdictName(MEMBRANE_VERDICT_REDIRECTED), "REDIRECTED");
  EXPECT_EQ(matchTypeName(MEMBRANE_MATCH_L3_L4), "L3-L4");
}

}  // namespace
}  // namespace membrane::dataplane

namespace membrane::dataplane {
namespace {

TEST(ProxyPortWriter, AppliesDifferencesAndReadsBack) {
  FakeMap m("membrane_proxy_ports", sizeof(ProxyKey), sizeof(ProxyInfo), 8);
  ProxyPortWriter w(m);
  EXPECT_TRUE(w.readBack()->empty());  // default: no proxy, every redirect drops
  const ProxyPortState s1 = {{15001, {.ifindex = 3, .listening = true}}, {15002, {}}};
  auto c1 = w.apply(s1);
  ASSERT_TRUE(c1.ok()) << c1.error().message();
  EXPECT_EQ(c1->upserted, (std::vector<uint16_t>{15001, 15002}));
  EXPECT_EQ(*w.readBack(), s1);
  auto key = TypedMap<ProxyKey, ProxyInfo>::wrap(m)->lookup(encodeProxyKey(15001));
  ASSERT_TRUE(key.ok() && key->has_value());
  EXPECT_EQ((*key)->flags, MEMBRANE_PROXY_F_LISTENING);
  EXPECT_EQ((*key)->ifindex, 3u);

  const ProxyPortState s2 = {{15002, {.listening = true}}};
  auto c2 = w.apply(s2);
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(c2->upserted, (std::vector<uint16_t>{15002}));
  EXPECT_EQ(c2->removed, (std::vector<uint16_t>{15001}));
  EXPECT_EQ(*w.readBack(), s2);

  // A restarted writer over the same map finds nothing to do.
  ProxyPortWriter again(m);
  auto c3 = again.apply(s2);
  ASSERT_TRUE(c3.ok());
  EXPECT_TRUE(c3->empty());
}

TEST(ProxyPortWriter, RejectsPortZeroAndReportsMapFailures) {
  FakeMap m("membrane_proxy_ports", sizeof(ProxyKey), sizeof(ProxyInfo), 8);
  ProxyPortWriter w(m);
  auto bad = w.apply({{0, {.listening = true}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().context.find("proxy port 0"), std::string::npos);
  EXPECT_EQ(m.mutations(), 0u);
  m.failNextMutation(ENOSPC);
  auto failed = w.apply({{15001, {.listening = true}}});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ENOSPC);
  EXPECT_NE(failed.error().context.find("proxy port 15001"), std::string::npos);
  EXPECT_TRUE(w.readBack()->empty());
  EXPECT_TRUE(w.apply({{15001, {.listening = true}}}).ok());  // retried after the failure
  EXPECT_EQ(w.readBack()->size(), 1u);
}

TEST(ProxyPortWriter, RefusesAMapOfTheWrongShape) {
  FakeMap m("membrane_ipcache", sizeof(IpcacheKey), sizeof(IpcacheInfo), 8);
  ProxyPortWriter w(m);
  EXPECT_FALSE(w.apply({{15001, {.listening = true}}}).ok());
}

}  // namespace
}  // namespace membrane::dataplane
