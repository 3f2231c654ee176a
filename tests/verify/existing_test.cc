// SPDX-License-Identifier: Apache-2.0
// Property: on small generated clusters, a `scope: existing` invariant holds exactly when
// exhaustive enumeration (every pair of today's pods, reserved identities, a representative
// of every address region and port region) through model::Engine finds no violation.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <set>

#include "tests/support/cluster_gen.h"
#include "verify/verifier.h"

namespace membrane::verify {
namespace {

using model::Direction;

rc::Gen<PeerSpec> genPeer() {
  return rc::gen::exec([] {
    PeerSpec p;
    switch (*rc::gen::inRange(0, 6)) {
      case 0:
        break;  // anything
      case 1:
        p.namespace_ = *rc::gen::elementOf(std::vector<std::string>{"prod", "dev"});
        break;
      case 2: {
        model::LabelSelector s;
        s.add({.source = "k8s",
               .key = "app",
               .op = model::SelectorOp::In,
               .values = {*rc::gen::elementOf(std::vector<std::string>{"web", "api", "db"})}});
        p.pod_selector = s;
        break;
      }
      case 3:
        p.entity = *rc::gen::elementOf(std::vector<std::string>{"world", "host", "cluster", "all"});
        break;
      case 4:
        p.cidr = model::CidrSpec{.cidr = *model::parseCidr("1.1.0.0/16", nullptr),
                                 .except = {*model::parseCidr("1.1.1.0/24", nullptr)}};
        break;
      default: {
        model::LabelSelector s;
        s.add({.source = "k8s",
               .key = "io.cilium.k8s.namespace.labels.env",
               .op = model::SelectorOp::In,
               .values = {"dev"}});
        p.namespace_selector = s;
      }
    }
    return p;
  });
}

rc::Gen<Invariant> genInvariant() {
  return rc::gen::exec([] {
    Invariant inv{.name = "generated", .scope = Scope::Existing};
    inv.expect = *rc::gen::arbitrary<bool>() ? Expect::Deny : Expect::Allow;
    inv.from = *genPeer();
    inv.to = *genPeer();
    switch (*rc::gen::inRange(0, 4)) {
      case 0:
        break;
      case 1:
        inv.ports.push_back({.protocol = model::kProtoTCP, .port = 80, .end_port = 80});
        break;
      case 2:
        inv.ports.push_back({.protocol = model::kProtoTCP, .port = 8000, .end_port = 8100});
        inv.ports.push_back({.protocol = model::kProtoUDP, .port = 53, .end_port = 53});
        break;
      default:
        inv.ports.push_back({.protocol = model::kProtoICMP, .port = 8, .end_port = 8});
    }
    return inv;
  });
}

// One candidate endpoint of the enumeration.
struct End {
  std::optional<size_t> pod;
  model::IdentityId reserved = 0;  // host, remote-node, ... when set
  model::Ipv4 ip = 0;              // external address otherwise
};

bool inSpec(const model::Cluster& c, const PeerSpec& s, const End& e) {
  if (s.isAny()) return true;
  if (s.isPodSpec()) {
    if (!e.pod) return false;
    const model::Identity* ident = c.identity(c.pods[*e.pod].identity);
    return ident && s.podLabelSelector().matches(ident->labels);
  }
  if (s.cidr) return !e.pod && e.reserved == 0 && s.cidr->matches(e.ip);
  if (*s.entity == "all") return true;
  if (*s.entity == "world") return !e.pod && e.reserved == 0;
  if (*s.entity == "host") return e.reserved == model::kIdentityHost;
  if (*s.entity == "cluster") return e.pod || e.reserved != 0;
  return false;
}

// Address representatives: the start of every region the policies' and spec's prefixes cut.
std::vector<model::Ipv4> addresses(const model::Cluster& c, const Invariant& inv) {
  std::set<uint64_t> starts{0};
  auto add = [&](const model::Cidr& p) {
    if (p.ipv6) return;
    starts.insert(p.first());
    starts.insert(uint64_t{p.last()} + 1);
  };
  for (const auto& r : c.policies.rules) {
    for (const auto& cs : r.peers.cidrs) {
      add(cs.cidr);
      for (const auto& x : cs.except) add(x);
    }
  }
  for (const PeerSpec* s : {&inv.from, &inv.to}) {
    if (!s->cidr) continue;
    add(s->cidr->cidr);
    for (const auto& x : s->cidr->except) add(x);
  }
  std::vector<model::Ipv4> out;
  for (uint64_t a : starts) {
    if (a <= 0xFFFFFFFFu && !c.findPodByIp(static_cast<model::Ipv4>(a)))
      out.push_back(static_cast<model::Ipv4>(a));
  }
  return out;
}

// Port representatives: the start of every region cut by rule, named and invariant ports.
std::vector<std::pair<uint8_t, uint16_t>> ports(const model::Cluster& c, const Invariant& inv) {
  std::set<uint32_t> starts{1};
  std::set<uint32_t> icmp{0};
  for (const auto& r : c.policies.rules) {
    for (const auto& p : r.ports) {
      starts.insert(p.port);
      starts.insert(uint32_t{p.end_port} + 1);
    }
    for (uint8_t t : r.icmp_types) icmp.insert({t, uint32_t{t} + 1});
  }
  for (const auto& pod : c.pods) {
    for (const auto& cp : pod.ports) starts.insert({cp.port, uint32_t{cp.port} + 1});
  }
  for (const auto& p : inv.ports) {
    (p.protocol == model::kProtoICMP ? icmp : starts).insert({p.port, uint32_t{p.end_port} + 1});
  }
  std::vector<std::pair<uint8_t, uint16_t>> out;
  for (uint8_t proto : {model::kProtoTCP, model::kProtoUDP, model::kProtoSCTP}) {
    for (uint32_t s : starts) {
      if (s >= 1 && s <= 65535) out.push_back({proto, static_cast<uint16_t>(s)});
    }
  }
  for (uint32_t t : icmp) {
    if (t <= 255) out.push_back({model::kProtoICMP, static_cast<uint16_t>(t)});
  }
  return out;
}

bool portInSpec(const Invariant& inv, uint8_t proto, uint16_t port) {
  if (inv.ports.empty()) return true;
  for (const auto& p : inv.ports) {
    const bool proto_ok =
        p.protocol == model::kProtoAny ? isPortProtocol(proto) : p.protocol == proto;
    if (proto_ok && port >= p.port && port <= p.end_port) return true;
  }
  return false;
}

// Whether the flow is allowed; `l7` says whether an L7 redirect decided a side of it.
bool allowed(const model::Engine& engine, const End& s, const End& d, uint8_t proto, uint16_t port,
             bool& l7) {
  auto id = [&](const End& e) {
    if (e.pod) return engine.cluster().pods[*e.pod].identity;
    return e.reserved ? e.reserved : engine.resolve(e.ip, "");
  };
  bool ok = true;
  l7 = false;
  for (bool egress : {true, false}) {
    const End& self = egress ? s : d;
    if (!self.pod) continue;
    const auto side = engine.decide(*self.pod, egress ? Direction::Egress : Direction::Ingress,
                                    id(egress ? d : s), proto, port);
    ok &= side.allowed;
    l7 |= side.verdict == model::EntryVerdict::Redirect;
  }
  l7 &= ok;
  return ok;
}

// True when the enumeration finds a flow that violates the invariant.
bool enumerateViolation(const model::Cluster& c, const Invariant& inv) {
  const model::Engine engine(c);
  std::vector<End> ends;
  for (size_t i = 0; i < c.pods.size(); ++i) ends.push_back({.pod = i});
  for (model::IdentityId r = 1; r <= model::kIdentityIngress; ++r) {
    if (r != model::kIdentityWorld) ends.push_back({.reserved = r});
  }
  for (model::Ipv4 a : addresses(c, inv)) ends.push_back({.ip = a});
  const auto candidate_ports = ports(c, inv);
  for (const End& s : ends) {
    if (!inSpec(c, inv.from, s)) continue;
    for (const End& d : ends) {
      if (!inSpec(c, inv.to, d) || (!s.pod && !d.pod) || (s.pod && d.pod && *s.pod == *d.pod))
        continue;
      for (auto [proto, port] : candidate_ports) {
        if (!portInSpec(inv, proto, port)) continue;
        bool l7 = false;
        const bool a = allowed(engine, s, d, proto, port, l7);
        // An L7-restricted flow violates either expectation (no proxy enforces it).
        if (a == (inv.expect == Expect::Deny) || l7) return true;
      }
    }
  }
  return false;
}

RC_GTEST_PROP(Existing, ScopeExistingEqualsExhaustiveEnumeration, ()) {
  const auto gen = *testing::genCluster();
  const auto loaded = testing::loadGenerated(gen);
  const Invariant inv = *genInvariant();
  Verifier v(loaded.cluster, {.timeout_ms = 10000});
  const InvariantResult r = v.check(inv);
  RC_ASSERT(r.outcome != Outcome::Unknown);
  const bool violated = enumerateViolation(loaded.cluster, inv);
  RC_ASSERT((r.outcome == Outcome::Violated) == violated);
  if (r.witness) RC_ASSERT(r.witness->agrees());
}

}  // namespace
}  // namespace membrane::verify
