// SPDX-License-Identifier: Apache-2.0
#include "tests/verify/enumerate.h"

#include <set>

#include "model/l7_decide.h"

namespace membrane::verify::oracle {

using model::Direction;

bool inSpec(const model::Cluster& c, const PeerSpec& s, const End& e) {
  if (s.isAny()) return true;
  if (s.isPodSpec()) {
    if (!e.pod) return false;
    const model::Identity* ident = c.identity(c.pods[*e.pod].identity);
    return ident && s.podLabelSelector().matches(ident->labels);
  }
  if (s.pod) return e.pod && c.pods[*e.pod].ref() == *s.pod;
  if (s.cidr) return !e.pod && e.reserved == 0 && s.cidr->matches(e.ip);
  if (*s.entity == "all") return true;
  if (*s.entity == "world") return !e.pod && e.reserved == 0;
  if (*s.entity == "host") return e.reserved == model::kIdentityHost;
  if (*s.entity == "cluster") return e.pod || e.reserved != 0;
  if (*s.entity == "remote-node") return e.reserved == model::kIdentityRemoteNode;
  if (*s.entity == "kube-apiserver") return e.reserved == model::kIdentityKubeApiserver;
  if (*s.entity == "health") return e.reserved == model::kIdentityHealth;
  if (*s.entity == "init") return e.reserved == model::kIdentityInit;
  if (*s.entity == "ingress") return e.reserved == model::kIdentityIngress;
  if (*s.entity == "unmanaged") return e.reserved == model::kIdentityUnmanaged;
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
    ok &= side.allowed || side.l7_restricted;  // no side denies (L7 counted separately)
    l7 |= side.l7_restricted;
  }
  l7 &= ok;
  return ok;
}

bool requestAllowed(const model::Engine& engine, const End& s, const End& d, uint16_t port,
                    const model::HttpRequest& req) {
  auto id = [&](const End& e) {
    if (e.pod) return engine.cluster().pods[*e.pod].identity;
    return e.reserved ? e.reserved : engine.resolve(e.ip, "");
  };
  model::Verdict v;
  v.egress.direction = Direction::Egress;
  v.ingress.direction = Direction::Ingress;
  if (s.pod) v.egress = engine.decide(*s.pod, Direction::Egress, id(d), model::kProtoTCP, port);
  if (d.pod) v.ingress = engine.decide(*d.pod, Direction::Ingress, id(s), model::kProtoTCP, port);
  v.allowed = v.egress.allowed && v.ingress.allowed;
  const auto passes = [](const model::SideDecision& x) { return x.allowed || x.l7_restricted; };
  v.l7_restricted =
      (v.egress.l7_restricted || v.ingress.l7_restricted) && passes(v.egress) && passes(v.ingress);
  const model::Flow flow{.src = {.pod = s.pod, .ip = s.ip},
                         .dst = {.pod = d.pod, .ip = d.ip},
                         .protocol = model::kProtoTCP,
                         .port = port};
  return model::decideHttp(engine, flow, v, req).allowed;
}

std::optional<Violation> findViolation(const model::Cluster& c, const Invariant& inv) {
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
        if (inv.http) {
          if (proto != model::kProtoTCP) continue;
          if (requestAllowed(engine, s, d, port, *inv.http) == (inv.expect == Expect::Deny))
            return Violation{.src = s, .dst = d, .protocol = proto, .port = port};
          continue;
        }
        bool l7 = false;
        const bool a = allowed(engine, s, d, proto, port, l7);
        // An L7-restricted flow violates either expectation (no proxy enforces it).
        if (a == (inv.expect == Expect::Deny) || l7)
          return Violation{.src = s, .dst = d, .protocol = proto, .port = port, .l7 = l7};
      }
    }
  }
  return std::nullopt;
}

std::string Violation::str(const model::Cluster& c) const {
  auto end = [&](const End& e) {
    if (e.pod) return c.pods[*e.pod].ref();
    if (e.reserved) return std::string(model::reservedIdentityName(e.reserved));
    return model::formatIpv4(e.ip);
  };
  return end(src) + " -> " + end(dst) + " " + std::string(model::protocolName(protocol)) + " " +
         std::to_string(port) + (l7 ? " (L7-restricted)" : "");
}

}  // namespace membrane::verify::oracle
