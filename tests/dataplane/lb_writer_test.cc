// SPDX-License-Identifier: Apache-2.0
// LbWriter on the in-memory maps: what it writes, what it refuses, and that every state a
// packet can observe in between resolves each live service to existing backends.
#include "dataplane/lb_writer.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <set>

namespace membrane::dataplane {
namespace {

constexpr uint32_t kTable = 251;  // small prime: fast fakes, same code path

struct Fakes {
  FakeMap services{"membrane_lb4_services", sizeof(LbKey), sizeof(LbService), 100000};
  FakeMap backends{"membrane_lb4_backends", 4, sizeof(LbBackendInfo), 100000};
  FakeMap rev_nat{"membrane_lb4_reverse_nat", 2, sizeof(LbRevNat), 100000};
  FakeLbMaglevStore maglev{kTable};
  LbMaps maps() {
    return {.services = &services,
            .backends = &backends,
            .rev_nat = &rev_nat,
            .maglev = &maglev,
            .maglev_table_size = kTable};
  }
  // What a packet could see now: "" when every live service resolves, else the first problem.
  std::string check() {
    auto svc = *TypedMap<LbKey, LbService>::wrap(services);
    auto be = *TypedMap<uint32_t, LbBackendInfo>::wrap(backends);
    auto rn = *TypedMap<uint16_t, LbRevNat>::wrap(rev_nat);
    const auto svc_entries = svc.entries();
    for (const auto& [k, v] : *svc_entries) {
      if (k.backend_slot != 0) continue;
      const std::string name =
          std::to_string(ntohl(k.address)) + ":" + std::to_string(ntohs(k.dport));
      if (!rn.lookup(v.rev_nat_index)->has_value()) return name + ": no rev-NAT entry";
      for (uint16_t i = 1; i <= v.count; ++i) {
        LbKey sk = k;
        sk.backend_slot = i;
        auto slot = *svc.lookup(sk);
        if (!slot) return name + ": slot " + std::to_string(i) + " missing";
        auto info = *be.lookup(slot->backend_id);
        if (!info) return name + ": slot backend missing";
        if (info->state != MEMBRANE_LB_BACKEND_ACTIVE) return name + ": terminating in a slot";
      }
      if (v.algorithm == MEMBRANE_LB_ALG_MAGLEV && v.count > 0) {
        auto table = *maglev.installed(v.rev_nat_index);
        if (!table) return name + ": no maglev table";
        auto t = *TypedMap<uint32_t, uint32_t>::wrap(*table);
        const auto table_entries = t.entries();
        for (const auto& [i, id] : *table_entries) {
          if (!be.lookup(id)->has_value()) return name + ": maglev backend missing";
        }
        if (table_entries->size() != kTable) return name + ": maglev table not full";
      }
    }
    return "";
  }
};

LbFrontend fe(uint32_t last, uint16_t port = 80) {
  return {.vip = 0x0A600000u | last, .port = port, .proto = 6};
}
LbBackend be(uint32_t last, uint16_t port = 8080, LbBackendState st = LbBackendState::Active) {
  return {.ip = 0x0A000100u | last, .port = port, .state = st, .node = "n1"};
}

// The state readBack() reports for `s`: active backends only, sorted, no node.
ServiceState activeView(const ServiceState& s) {
  ServiceState out;
  for (const auto& [f, spec] : s) {
    LbServiceSpec v = spec;
    v.backends.clear();
    for (const LbBackend& b : spec.backends) {
      if (b.state == LbBackendState::Active) v.backends.push_back({.ip = b.ip, .port = b.port});
    }
    std::sort(v.backends.begin(), v.backends.end(), [](const LbBackend& a, const LbBackend& b) {
      return std::pair(a.ip, a.port) < std::pair(b.ip, b.port);
    });
    out[f] = v;
  }
  return out;
}

TEST(LbWriter, WritesServicesSlotsBackendsAndRevNat) {
  Fakes fk;
  LbWriter w(fk.maps());
  ServiceState s = {
      {fe(10), {.backends = {be(2), be(1), be(3, 8080, LbBackendState::Terminating)}}},
      {fe(11, 53),
       {.backends = {be(1)}, .algorithm = LbAlgorithm::Maglev, .affinity_timeout_s = 30}}};
  auto c = w.apply(s);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->upserted.size(), 2u);
  EXPECT_EQ(c->backends_written, 3u);  // be(1) shared by both services: one id
  EXPECT_EQ(fk.check(), "");
  EXPECT_EQ(*w.readBack(), activeView(s));
  EXPECT_EQ(w.backendIdOf(be(1).ip, 8080, 6), 1u);
  EXPECT_EQ(fk.maglev.tables().size(), 1u);
  auto master = *TypedMap<LbKey, LbService>::wrap(fk.services)->lookup(encodeLbKey(fe(10), 0));
  ASSERT_TRUE(master.has_value());
  EXPECT_EQ(master->count, 2);  // the terminating backend has no slot
  auto rn = *TypedMap<uint16_t, LbRevNat>::wrap(fk.rev_nat)->lookup(w.revNatOf(fe(10)));
  ASSERT_TRUE(rn.has_value());
  EXPECT_EQ(rn->address, htonl(fe(10).vip));
  EXPECT_EQ(rn->port, htons(80));
  EXPECT_TRUE(w.apply(s)->empty());  // idempotent

  // Restart: a fresh writer over the same maps keeps the ids and writes nothing.
  LbWriter again(fk.maps());
  auto c2 = again.apply(s);
  ASSERT_TRUE(c2.ok());
  EXPECT_TRUE(c2->empty());
  EXPECT_EQ(again.revNatOf(fe(11, 53)), w.revNatOf(fe(11, 53)));

  ASSERT_TRUE(w.apply({}).ok());
  EXPECT_TRUE(fk.services.contents().empty());
  EXPECT_TRUE(fk.backends.contents().empty());
  EXPECT_TRUE(fk.rev_nat.contents().empty());
  EXPECT_TRUE(fk.maglev.tables().empty());
}

TEST(LbWriter, RejectsBadInputNamingServiceAndFieldAndWritesNothing) {
  Fakes fk;
  LbWriter w(fk.maps());
  auto expectErr = [&](const ServiceState& s, const std::string& want) {
    auto r = w.apply(s);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_NE(r.error().context.find(want), std::string::npos) << r.error().context;
  };
  expectErr({{fe(1, 0), {}}}, "service 10.96.0.1:0/TCP: port");
  expectErr({{{.vip = 0, .port = 80, .proto = 6}, {}}}, "vip");
  expectErr({{{.vip = 1, .port = 80, .proto = 1}, {}}}, "protocol: expected TCP or UDP");
  expectErr({{fe(1), {.backends = {be(1), be(1)}}}}, "duplicate backend 10.0.1.1:8080");
  expectErr({{fe(1), {.backends = {be(1, 0)}}}}, "backend 10.0.1.1:0");
  LbWriter nomag({.services = &fk.services, .backends = &fk.backends, .rev_nat = &fk.rev_nat});
  auto r = nomag.apply({{fe(1), {.algorithm = LbAlgorithm::Maglev}}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().context.find("algorithm Maglev"), std::string::npos);
  EXPECT_EQ(fk.services.mutations() + fk.backends.mutations() + fk.rev_nat.mutations(), 0u);
}

TEST(LbWriter, ServiceWithoutActiveBackendKeepsItsMasterWithCountZero) {
  Fakes fk;
  LbWriter w(fk.maps());
  ASSERT_TRUE(w.apply({{fe(1), {.backends = {be(1, 80, LbBackendState::Terminating)}}}}).ok());
  auto master = *TypedMap<LbKey, LbService>::wrap(fk.services)->lookup(encodeLbKey(fe(1), 0));
  ASSERT_TRUE(master.has_value());
  EXPECT_EQ(master->count, 0);                   // the datapath drops new flows with NO_SERVICE
  EXPECT_EQ(fk.backends.contents().size(), 1u);  // kept for the connections it has
}

ServiceState genState() {
  ServiceState s;
  const int n = *rc::gen::inRange(0, 5);
  for (int i = 0; i < n; ++i) {
    LbServiceSpec spec;
    const int nb = *rc::gen::inRange(0, 6);
    std::set<uint32_t> used;
    for (int j = 0; j < nb; ++j) {
      const uint32_t last = *rc::gen::inRange<uint32_t>(1, 9);
      if (!used.insert(last).second) continue;
      spec.backends.push_back(be(last, 8080,
                                 *rc::gen::element(LbBackendState::Active, LbBackendState::Active,
                                                   LbBackendState::Terminating)));
    }
    spec.algorithm = *rc::gen::element(LbAlgorithm::Random, LbAlgorithm::Maglev);
    spec.affinity_timeout_s = *rc::gen::element<uint32_t>(0, 10);
    s[fe(*rc::gen::inRange<uint32_t>(1, 7))] = spec;
  }
  return s;
}

// Every state between two applies is one a packet may see: each live service resolves to
// existing active backends, and a service live with active backends in both the old and the
// new state never shows count 0 in between.
RC_GTEST_PROP(LbWriterProp, EveryObservableStateResolves, ()) {
  Fakes fk;
  LbWriter w(fk.maps());
  ServiceState prev, next;
  std::string problem;
  auto hasActive = [](const ServiceState& st, const LbFrontend& f) {
    auto it = st.find(f);
    return it != st.end() &&
           std::any_of(it->second.backends.begin(), it->second.backends.end(),
                       [](const LbBackend& b) { return b.state == LbBackendState::Active; });
  };
  auto observe = [&] {
    if (!problem.empty()) return;
    problem = fk.check();
    auto svc = *TypedMap<LbKey, LbService>::wrap(fk.services);
    const auto entries = svc.entries();
    for (const auto& [k, v] : *entries) {
      if (k.backend_slot != 0 || v.count != 0) continue;
      LbFrontend f{.vip = ntohl(k.address), .port = ntohs(k.dport), .proto = k.proto};
      if (hasActive(prev, f) && hasActive(next, f)) problem = f.str() + ": count 0 in between";
    }
  };
  fk.services.setObserver(observe);
  fk.backends.setObserver(observe);
  fk.rev_nat.setObserver(observe);
  fk.maglev.setObserver(observe);
  const int steps = *rc::gen::inRange(1, 6);
  for (int i = 0; i < steps; ++i) {
    next = genState();
    auto c = w.apply(next);
    RC_ASSERT(c.ok());
    RC_ASSERT(problem == "");
    RC_ASSERT(*w.readBack() == activeView(next));
    prev = next;
  }
}

}  // namespace
}  // namespace membrane::dataplane
