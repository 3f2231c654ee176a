// SPDX-License-Identifier: Apache-2.0
#include "model/connectivity.h"

#include <algorithm>
#include <map>
#include <set>

namespace membrane::model {

void IntervalSet::add(uint32_t lo, uint32_t hi) {
  if (lo > hi) return;
  std::vector<std::pair<uint32_t, uint32_t>> out;
  bool placed = false;
  for (const auto& [a, b] : iv_) {
    if (b + 1ull < lo) {
      out.push_back({a, b});
    } else if (hi + 1ull < a) {
      if (!placed) out.push_back({lo, hi});
      placed = true;
      out.push_back({a, b});
    } else {
      lo = std::min(lo, a);
      hi = std::max(hi, b);
    }
  }
  if (!placed) out.push_back({lo, hi});
  std::sort(out.begin(), out.end());
  iv_ = std::move(out);
}

bool IntervalSet::contains(uint32_t v) const { return covers(v, v); }

bool IntervalSet::covers(uint32_t lo, uint32_t hi) const {
  for (const auto& [a, b] : iv_) {
    if (a <= lo && hi <= b) return true;
  }
  return false;
}

IntervalSet IntervalSet::intersect(const IntervalSet& o) const {
  IntervalSet r;
  for (const auto& [a, b] : iv_) {
    for (const auto& [c, d] : o.iv_) {
      if (std::max(a, c) <= std::min(b, d)) r.add(std::max(a, c), std::min(b, d));
    }
  }
  return r;
}

IntervalSet IntervalSet::minus(const IntervalSet& o) const {
  IntervalSet r = *this;
  for (const auto& [c, d] : o.iv_) {
    IntervalSet next;
    for (const auto& [a, b] : r.iv_) {
      if (d < a || c > b) {
        next.add(a, b);
        continue;
      }
      if (a < c) next.add(a, c - 1);
      if (d < b) next.add(d + 1, b);
    }
    r = std::move(next);
  }
  return r;
}

ConnSet ConnSet::all() {
  ConnSet s;
  for (auto& p : s.ports) p.add(0, 65535);
  s.icmp.add(0, 255);
  return s;
}

bool ConnSet::isAll() const {
  return std::all_of(ports.begin(), ports.end(),
                     [](const IntervalSet& p) { return p.covers(0, 65535); }) &&
         icmp.covers(0, 255);
}

bool ConnSet::empty() const {
  return std::all_of(ports.begin(), ports.end(), [](const IntervalSet& p) { return p.empty(); }) &&
         icmp.empty();
}

ConnSet ConnSet::intersect(const ConnSet& o) const {
  ConnSet r;
  for (size_t i = 0; i < ports.size(); ++i) r.ports[i] = ports[i].intersect(o.ports[i]);
  r.icmp = icmp.intersect(o.icmp);
  return r;
}

ConnSet ConnSet::minus(const ConnSet& o) const {
  ConnSet r;
  for (size_t i = 0; i < ports.size(); ++i) r.ports[i] = ports[i].minus(o.ports[i]);
  r.icmp = icmp.minus(o.icmp);
  return r;
}

std::string ConnSet::str() const {
  if (isAll()) return "All Connections";
  if (empty()) return "No Connections";
  std::string s;
  for (size_t i = 0; i < ports.size(); ++i) {
    if (ports[i].empty()) continue;
    s += (s.empty() ? "" : ",") + std::string(protocolName(kPortProtocols[i]));
    if (ports[i].covers(0, 65535)) continue;
    std::string list;
    for (const auto& [a, b] : ports[i].intervals()) {
      list += (list.empty() ? "" : ",");
      list += a == b ? std::to_string(a) : std::to_string(a) + "-" + std::to_string(b);
    }
    s += " " + list;
  }
  if (!icmp.empty()) {
    s += (s.empty() ? "" : ",") + std::string("ICMP");
    if (!icmp.covers(0, 255)) {
      std::string list;
      for (const auto& [a, b] : icmp.intervals()) {
        list += (list.empty() ? "" : ",");
        list += a == b ? std::to_string(a) : std::to_string(a) + "-" + std::to_string(b);
      }
      s += " type " + list;
    }
  }
  return s;
}

std::string ConnPeer::str(const Cluster& c) const {
  if (external) return formatIpv4(lo) + "-" + formatIpv4(hi) + "[External]";
  return c.workloads[workload].ref();
}

namespace {

// The connections one rule matches, for endpoint `self` and peer identity `peer`.
ConnSet ruleConns(const PolicyRule& r, const Pod& self, const Cluster& c, IdentityId peer) {
  if (r.icmps_present) {
    ConnSet s;
    for (auto t : r.icmp_types) s.icmp.add(t, t);
    return s;
  }
  if (r.ports.empty()) return ConnSet::all();
  ConnSet s;
  auto add = [&](uint8_t spec_proto, uint8_t proto, uint32_t lo, uint32_t hi) {
    for (size_t i = 0; i < ConnSet::kPortProtocols.size(); ++i) {
      const uint8_t p = ConnSet::kPortProtocols[i];
      if (p == proto || (spec_proto == kProtoAny && proto == kProtoAny)) s.ports[i].add(lo, hi);
    }
  };
  for (const auto& p : r.ports) {
    if (p.name.empty()) {
      add(p.protocol, p.protocol, p.port, p.end_port);
      continue;
    }
    auto named = [&](const ContainerPort& cp) {
      if (cp.name != p.name || (p.protocol != kProtoAny && p.protocol != cp.protocol)) return;
      add(cp.protocol, cp.protocol, cp.port, cp.port);
    };
    if (r.direction == Direction::Ingress) {
      for (const auto& cp : self.ports) named(cp);
    } else if (const Identity* ident = c.identity(peer)) {
      auto range = ident->named_ports.equal_range(p.name);
      for (auto it = range.first; it != range.second; ++it) named(it->second);
    }
  }
  return s;
}

ConnSet unite(ConnSet a, const ConnSet& b) {
  for (size_t i = 0; i < a.ports.size(); ++i) {
    for (const auto& [lo, hi] : b.ports[i].intervals()) a.ports[i].add(lo, hi);
  }
  for (const auto& [lo, hi] : b.icmp.intervals()) a.icmp.add(lo, hi);
  return a;
}

}  // namespace

// Set algebra over the rules, equal to Engine::decide() port by port. Precedence: deny >
// L7 redirect > allow, so denied = what a deny rule matches; L7-restricted = what a redirect
// rule matches, minus denied; allowed = (what an allow rule, or the synthetic allow-all /
// allow-localhost entries, matches) minus both.
SideConns sideConns(const Engine& engine, size_t pod, Direction dir, IdentityId peer) {
  const Cluster& c = engine.cluster();
  const Pod& self = c.pods[pod];
  const auto& rules = engine.subjectRules(self.identity, dir);
  if (rules.empty()) return {.allowed = ConnSet::all()};
  bool enforced = false;
  ConnSet allow, redirect, deny;
  std::vector<std::pair<ConnSet, const PolicyRule*>> redirects;
  for (size_t id : rules) {
    const PolicyRule& r = c.policies.rules[id];
    enforced |= r.default_deny;
    if (!engine.peerSelects(r, peer)) continue;
    ConnSet m = ruleConns(r, self, c, peer);
    if (r.deny) {
      deny = unite(std::move(deny), m);
    } else if (!r.l7.empty()) {
      redirect = unite(std::move(redirect), m);
      redirects.emplace_back(std::move(m), &r);
    } else {
      allow = unite(std::move(allow), m);
    }
  }
  if (!enforced || (dir == Direction::Ingress && peer == kIdentityHost)) allow = ConnSet::all();
  SideConns out{.allowed = allow.minus(redirect).minus(deny), .l7 = redirect.minus(deny)};
  std::set<std::string> types;
  for (const auto& [m, r] : redirects) {
    if (m.minus(deny).empty()) continue;
    for (const L7Info& l : r->l7) types.insert(l.type);
  }
  out.l7_types.assign(types.begin(), types.end());
  return out;
}

ConnSet allowedConns(const Engine& engine, size_t pod, Direction dir, IdentityId peer) {
  return sideConns(engine, pod, dir, peer).allowed;
}

std::string ConnEntry::str() const {
  if (l7.empty()) return conns.str();
  std::string types;
  for (const auto& t : l7_types) types += (types.empty() ? "" : ",") + t;
  const std::string restricted = l7.str() + " (L7: " + types + ")";
  return conns.empty() ? restricted : conns.str() + "; " + restricted;
}

namespace {

// Address ranges over which the ipcache gives one identity (outside pods and nodes).
std::vector<std::tuple<Ipv4, Ipv4, IdentityId>> externalRanges(const Engine& engine) {
  std::set<uint64_t> cuts{0, 1ull << 32};
  for (const auto& [id, ident] : engine.cluster().identities) {
    if (ident.kind != IdentityKind::Cidr || !ident.cidr) continue;
    cuts.insert(ident.cidr->first());
    cuts.insert(uint64_t{ident.cidr->last()} + 1);
  }
  std::vector<std::tuple<Ipv4, Ipv4, IdentityId>> out;
  for (auto it = cuts.begin(); std::next(it) != cuts.end(); ++it) {
    const Ipv4 lo = static_cast<Ipv4>(*it);
    const Ipv4 hi = static_cast<Ipv4>(*std::next(it) - 1);
    IdentityId id = kIdentityWorld;
    for (const auto& [cid, ident] : engine.cluster().identities) {
      if (ident.kind == IdentityKind::Cidr && ident.cidr && ident.cidr->contains(lo) &&
          (id == kIdentityWorld || ident.cidr->len > engine.cluster().identity(id)->cidr->len)) {
        id = cid;
      }
    }
    out.push_back({lo, hi, id});
  }
  return out;
}

// A flow between two pods passes where both sides pass; it is L7-restricted where it
// passes but not plainly on both sides.
ConnEntry pairEntry(const SideConns& egress, const SideConns& ingress) {
  ConnEntry e;
  e.conns = egress.allowed.intersect(ingress.allowed);
  const ConnSet passes =
      unite(egress.allowed, egress.l7).intersect(unite(ingress.allowed, ingress.l7));
  e.l7 = passes.minus(e.conns);
  std::set<std::string> types;
  for (const SideConns* side : {&egress, &ingress}) {
    if (side->l7.intersect(e.l7).empty()) continue;
    types.insert(side->l7_types.begin(), side->l7_types.end());
  }
  e.l7_types.assign(types.begin(), types.end());
  return e;
}

}  // namespace

std::vector<ConnEntry> computeConnectivity(const Engine& engine) {
  const Cluster& c = engine.cluster();
  // A representative pod per workload (workloads without pods have no connectivity).
  std::vector<std::optional<size_t>> rep(c.workloads.size());
  for (size_t i = 0; i < c.pods.size(); ++i) {
    if (!rep[c.pods[i].workload]) rep[c.pods[i].workload] = i;
  }
  std::vector<ConnEntry> out;
  for (size_t a = 0; a < c.workloads.size(); ++a) {
    if (!rep[a]) continue;
    for (size_t b = 0; b < c.workloads.size(); ++b) {
      if (!rep[b] || a == b) continue;
      const Pod& pa = c.pods[*rep[a]];
      const Pod& pb = c.pods[*rep[b]];
      ConnEntry e = pairEntry(sideConns(engine, *rep[a], Direction::Egress, pb.identity),
                              sideConns(engine, *rep[b], Direction::Ingress, pa.identity));
      e.src = {.workload = a};
      e.dst = {.workload = b};
      if (!e.conns.empty() || !e.l7.empty()) out.push_back(std::move(e));
    }
  }
  const auto ranges = externalRanges(engine);
  for (size_t a = 0; a < c.workloads.size(); ++a) {
    if (!rep[a]) continue;
    for (Direction dir : {Direction::Egress, Direction::Ingress}) {
      std::optional<ConnEntry> run;
      auto flush = [&] {
        if (run && (!run->conns.empty() || !run->l7.empty())) out.push_back(*run);
        run.reset();
      };
      for (const auto& [lo, hi, id] : ranges) {
        SideConns s = sideConns(engine, *rep[a], dir, id);
        if (run && run->conns == s.allowed && run->l7 == s.l7 && run->l7_types == s.l7_types &&
            (dir == Direction::Egress ? run->dst.hi : run->src.hi) + 1 == lo) {
          (dir == Direction::Egress ? run->dst.hi : run->src.hi) = hi;
          continue;
        }
        flush();
        ConnPeer ext{.external = true, .lo = lo, .hi = hi};
        ConnPeer wl{.workload = a};
        const bool egress = dir == Direction::Egress;
        run = ConnEntry{.src = egress ? wl : ext,
                        .dst = egress ? ext : wl,
                        .conns = std::move(s.allowed),
                        .l7 = std::move(s.l7),
                        .l7_types = std::move(s.l7_types)};
      }
      flush();
    }
  }
  std::sort(out.begin(), out.end(), [&](const ConnEntry& x, const ConnEntry& y) {
    return std::make_pair(x.src.str(c), x.dst.str(c)) < std::make_pair(y.src.str(c), y.dst.str(c));
  });
  return out;
}

}  // namespace membrane::model
