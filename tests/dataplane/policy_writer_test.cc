// SPDX-License-Identifier: Apache-2.0
#include "dataplane/policy_writer.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <vector>

namespace membrane::dataplane {
namespace {

using model::Direction;
using model::EntryVerdict;
using model::MapKey;
using model::MapState;
using model::MapValue;

MapKey key(model::IdentityId id, Direction dir, uint8_t proto, uint16_t port, uint8_t prefix) {
  return {.identity = id, .direction = dir, .protocol = proto, .port = port, .prefix_len = prefix};
}
MapValue allow(uint32_t cookie = 1) { return {.cookie = cookie}; }
MapValue deny(uint32_t cookie = 2) {
  return {.verdict = EntryVerdict::Deny, .precedence = model::kPrecedenceDeny, .cookie = cookie};
}

TEST(PolicyEncoding, RoundTripsAndMasksPorts) {
  const MapKey k = key(1001, Direction::Egress, 6, 8091, 20);  // 8080/12 bits
  auto enc = encodePolicyKey(k);
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(enc->prefixlen, 40u + 20u);
  EXPECT_EQ(enc->sec_label, 1001u);
  EXPECT_EQ(enc->egress, 1);
  EXPECT_EQ(ntohs(enc->dport), 8080);  // low 4 bits masked off
  const MapKey back = decodePolicyKey(*enc);
  EXPECT_EQ(back.port, 8080);
  EXPECT_EQ(back.prefix_len, 20);

  const MapValue r{.verdict = EntryVerdict::Redirect,
                   .proxy_port = 15001,
                   .precedence = 0xFFFFFF9A,
                   .cookie = 9};
  auto e = encodePolicyEntry(r, 24);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(decodePolicyEntry(*e), r);
  EXPECT_EQ(decodePolicyEntry(*encodePolicyEntry(deny(), 0)), deny());
}

TEST(PolicyEncoding, RejectsWhatTheDatapathCannotHold) {
  EXPECT_FALSE(encodePolicyKey(key(1, Direction::Ingress, 6, 80, 25)).ok());
  EXPECT_FALSE(encodePolicyKey(key(1, Direction::Ingress, 0, 80, 24)).ok());
  EXPECT_FALSE(encodePolicyEntry({.verdict = EntryVerdict::Redirect, .proxy_port = 0}, 24).ok());
}

TEST(PolicyWriter, AppliesDifferencesAndReadsBack) {
  FakePolicyMapStore store;
  PolicyWriter writer(store);
  MapState s1;
  s1.entries[key(1001, Direction::Egress, 6, 80, 24)] = allow(1);
  s1.entries[key(0, Direction::Ingress, 0, 0, 0)] = allow(2);
  auto c1 = writer.apply(7, s1);
  ASSERT_TRUE(c1.ok()) << c1.error().message();
  EXPECT_EQ(c1->added.size(), 2u);
  EXPECT_TRUE(c1->swapped);

  auto back = writer.readBack(7);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->entries, s1.entries);

  // Same state: nothing to do, nothing installed.
  auto c2 = writer.apply(7, s1);
  ASSERT_TRUE(c2.ok());
  EXPECT_TRUE(c2->empty());
  EXPECT_FALSE(c2->swapped);

  MapState s2 = s1;
  s2.entries.erase(key(0, Direction::Ingress, 0, 0, 0));
  s2.entries[key(1001, Direction::Egress, 6, 80, 24)] = deny(5);
  s2.entries[key(1002, Direction::Egress, 17, 0, 8)] = allow(3);
  auto c3 = writer.apply(7, s2);
  ASSERT_TRUE(c3.ok());
  EXPECT_EQ(c3->added.size(), 1u);
  EXPECT_EQ(c3->removed.size(), 1u);
  EXPECT_EQ(c3->changed.size(), 1u);
  EXPECT_EQ(writer.readBack(7)->entries, s2.entries);
  // Two tries per endpoint, reused: the second swap waited for in-flight readers.
  EXPECT_EQ(store.innerMapsCreated(), 2u);
  EXPECT_EQ(store.quiesceCalls(), 0u);
  ASSERT_TRUE(writer.apply(7, s1).ok());
  EXPECT_EQ(store.quiesceCalls(), 1u);
  EXPECT_EQ(store.innerMapsCreated(), 2u);
  EXPECT_EQ(writer.readBack(7)->entries, s1.entries);
}

TEST(PolicyWriter, BadInputLeavesThePolicyUntouched) {
  FakePolicyMapStore store;
  PolicyWriter writer(store);
  MapState good;
  good.entries[key(1001, Direction::Egress, 6, 80, 24)] = allow();
  ASSERT_TRUE(writer.apply(1, good).ok());
  MapState bad = good;
  bad.entries[key(1002, Direction::Egress, 6, 80, 24)] = {.verdict = EntryVerdict::Redirect};
  auto r = writer.apply(1, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().context.find("identity 1002"), std::string::npos) << r.error().context;
  EXPECT_EQ(writer.readBack(1)->entries, good.entries);
}

TEST(PolicyWriter, KernelFailureDuringFillNeverReachesPackets) {
  MapState s1;
  s1.entries[key(1001, Direction::Egress, 6, 80, 24)] = allow();
  MapState s2;
  for (uint16_t p = 1; p <= 5; ++p) s2.entries[key(1001, Direction::Egress, 6, p, 24)] = allow();
  // Fill a map limited to 3 entries: fails with E2BIG before any install.
  FakePolicyMapStore small(3);
  PolicyWriter w2(small);
  ASSERT_TRUE(w2.apply(1, s1).ok());
  auto r = w2.apply(1, s2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, E2BIG);
  EXPECT_EQ(w2.readBack(1)->entries, s1.entries);
  // A later valid apply still converges, with no leftovers from the failed fill.
  MapState s3;
  s3.entries[key(1002, Direction::Ingress, 17, 53, 24)] = allow();
  ASSERT_TRUE(w2.apply(1, s3).ok());
  EXPECT_EQ(w2.readBack(1)->entries, s3.entries);
  ASSERT_TRUE(w2.apply(1, s1).ok());
  EXPECT_EQ(w2.readBack(1)->entries, s1.entries);
}

TEST(PolicyWriter, AdoptsWhatTheStoreHoldsAfterRestart) {
  FakePolicyMapStore store;
  MapState s1;
  s1.entries[key(1001, Direction::Ingress, 17, 53, 24)] = allow();
  {
    PolicyWriter before(store);
    ASSERT_TRUE(before.apply(3, s1).ok());
  }
  PolicyWriter after(store);
  auto c = after.apply(3, s1);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->empty());  // idempotent: nothing rewritten
}

// The counterexample that rules out in-place updates: both policies deny (X, TCP 80), but
// with all entries of both present the two LPM lookups pick two allows.
TEST(PolicyWriter, NoIntermediateStateAllowsAFlowDeniedBeforeAndAfter) {
  MapState p1, p2;
  p1.entries[key(1001, Direction::Egress, 6, 80, 24)] = allow(1);
  p1.entries[key(0, Direction::Egress, 6, 0, 8)] = deny(2);
  p2.entries[key(1001, Direction::Egress, 0, 0, 0)] = deny(3);
  p2.entries[key(0, Direction::Egress, 6, 80, 24)] = allow(4);
  MapState both = p1;
  both.entries.insert(p2.entries.begin(), p2.entries.end());
  auto verdict = [](const MapState& s) {
    return model::lookupMapState(s, 1001, Direction::Egress, 6, 80).value.verdict;
  };
  ASSERT_EQ(verdict(p1), EntryVerdict::Deny);
  ASSERT_EQ(verdict(p2), EntryVerdict::Deny);
  ASSERT_EQ(verdict(both), EntryVerdict::Allow);  // what an in-place update would expose

  FakePolicyMapStore store;
  PolicyWriter writer(store);
  size_t observed = 0;
  store.setObserver([&] {
    auto inner = store.installed(1);
    if (!inner.ok() || !*inner) return;
    ++observed;
    auto r = lookupPolicyMap(**inner, 1001, Direction::Egress, 6, 80);
    EXPECT_TRUE(r.found && r.value.verdict == EntryVerdict::Deny);
  });
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(writer.apply(1, i % 2 == 0 ? p1 : p2).ok());
  EXPECT_GE(observed, 10u);  // every mutation and install was checked
}

// Random policies, random sequences of updates: at every state a packet could observe,
// every flow whose verdict is the same before and after the update gets that verdict.
RC_GTEST_PROP(PolicyWriterProp, EveryObservableStateIsOldOrNew, ()) {
  const std::vector<model::IdentityId> ids = {0, 2, 1001, 1002};
  const std::vector<uint8_t> protos = {1, 6, 17, 132};
  const std::vector<uint16_t> ports = {0, 53, 79, 80, 81, 443, 8080};
  auto genState = [&] {
    MapState s;
    const int n = *rc::gen::inRange(0, 12);
    for (int i = 0; i < n; ++i) {
      MapKey k;
      k.identity = *rc::gen::elementOf(ids);
      k.direction = *rc::gen::element(Direction::Ingress, Direction::Egress);
      k.prefix_len = *rc::gen::element<uint8_t>(0, 8, 16, 20, 24);
      k.protocol = k.prefix_len == 0 ? 0 : *rc::gen::elementOf(protos);
      const uint16_t port = *rc::gen::elementOf(ports);
      const unsigned bits = k.prefix_len > 8 ? k.prefix_len - 8u : 0u;
      k.port = bits == 0 ? 0 : static_cast<uint16_t>(port & (0xFFFFu << (16 - bits)));
      const int v = *rc::gen::inRange(0, 3);
      s.entries[k] = v == 0   ? deny(static_cast<uint32_t>(i))
                     : v == 1 ? allow(static_cast<uint32_t>(i))
                              : MapValue{.verdict = EntryVerdict::Redirect,
                                         .proxy_port = 15001,
                                         .precedence = 0xFFFFFF9A,
                                         .cookie = static_cast<uint32_t>(i)};
    }
    return s;
  };
  const MapState before = genState();
  const MapState after = genState();

  FakePolicyMapStore store;
  PolicyWriter writer(store);
  RC_ASSERT(writer.apply(1, before).ok());
  struct Flow {
    model::IdentityId peer;
    Direction dir;
    uint8_t proto;
    uint16_t port;
  };
  std::vector<Flow> stable;
  for (auto peer : {2u, 1001u, 1002u}) {
    for (auto dir : {Direction::Ingress, Direction::Egress}) {
      for (auto proto : protos) {
        for (auto port : ports) {
          auto a = model::lookupMapState(before, peer, dir, proto, port);
          auto b = model::lookupMapState(after, peer, dir, proto, port);
          if (a.found == b.found && (!a.found || a.value == b.value)) {
            stable.push_back({peer, dir, proto, port});
          }
        }
      }
    }
  }
  bool ok = true;
  store.setObserver([&] {
    auto inner = store.installed(1);
    if (!inner.ok() || !*inner) return;
    for (const Flow& f : stable) {
      auto want = model::lookupMapState(before, f.peer, f.dir, f.proto, f.port);
      auto got = lookupPolicyMap(**inner, f.peer, f.dir, f.proto, f.port);
      if (got.found != want.found || (want.found && !(got.value == want.value))) ok = false;
    }
  });
  RC_ASSERT(writer.apply(1, after).ok());
  RC_ASSERT(writer.apply(1, before).ok());
  RC_ASSERT(ok);
  RC_ASSERT(writer.readBack(1)->entries == before.entries);
}

}  // namespace
}  // namespace membrane::dataplane
