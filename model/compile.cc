// SPDX-License-Identifier: Apache-2.0
// compile(endpoint): the policy map state the datapath holds for one endpoint.
#include <algorithm>

#include "model/engine.h"

namespace membrane::model {
namespace {

struct Builder {
  MapState& state;

  void insert(const MapKey& k, const MapValue& v) {
    auto [it, fresh] = state.entries.try_emplace(k, v);
    if (fresh) return;
    MapValue& cur = it->second;
    if (v.precedence > cur.precedence || (v.precedence == cur.precedence && v.cookie != 0 &&
                                          (cur.cookie == 0 || v.cookie < cur.cookie))) {
      cur = v;
    }
  }

  void insertPorts(IdentityId id, Direction dir, uint8_t spec_proto, uint16_t lo, uint16_t hi,
                   const MapValue& v) {
    static constexpr uint8_t kAnyProtos[] = {kProtoTCP, kProtoUDP, kProtoSCTP};
    auto each = [&](uint8_t proto) {
      if (lo == 0 && hi == 65535) {
        insert({.identity = id,
                .direction = dir,
                .protocol = proto,
                .port = 0,
                .prefix_len = kPrefixProtoOnly},
               v);
        return;
      }
      for (auto [port, bits] : portRangeToPrefixes(lo, hi)) {
        insert({.identity = id,
                .direction = dir,
                .protocol = proto,
                .port = port,
                .prefix_len = static_cast<uint8_t>(kPrefixProtoOnly + bits)},
               v);
      }
    };
    if (spec_proto == kProtoAny) {
      for (uint8_t p : kAnyProtos) each(p);
    } else {
      each(spec_proto);
    }
  }
};

// Within one identity and direction, an entry covered by a broader entry of higher
// precedence takes that entry's value: the datapath's LPM returns the narrowest entry, so
// without this a broad deny would be hidden by a narrow allow.
void resolveCoverage(MapState& state) {
  for (auto it = state.entries.begin(); it != state.entries.end();) {
    auto group_end = it;
    while (group_end != state.entries.end() && group_end->first.identity == it->first.identity &&
           group_end->first.direction == it->first.direction) {
      ++group_end;
    }
    std::vector<std::pair<const MapKey*, MapValue*>> group;
    for (auto g = it; g != group_end; ++g) group.push_back({&g->first, &g->second});
    std::sort(group.begin(), group.end(), [](const auto& a, const auto& b) {
      return a.first->prefix_len < b.first->prefix_len;
    });
    for (size_t i = 0; i < group.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        const MapKey& broad = *group[j].first;
        const MapKey& narrow = *group[i].first;
        if (broad.prefix_len >= narrow.prefix_len) continue;
        if (!keyCovers(broad, narrow.protocol, narrow.port)) continue;
        if (group[j].second->precedence > group[i].second->precedence) {
          *group[i].second = *group[j].second;
        }
      }
    }
    it = group_end;
  }
}

}  // namespace

MapState Engine::compile(size_t pod_index) const {
  const Pod& self = cluster_.pods[pod_index];
  MapState state;
  Builder b{state};
  const MapValue synthetic{.verdict = EntryVerdict::Allow, .precedence = kPrecedenceAllow};
  for (Direction dir : {Direction::Ingress, Direction::Egress}) {
    const auto& rules = subjectRules(self.identity, dir);
    bool enforced = false;
    for (size_t id : rules) enforced |= cluster_.policies.rules[id].default_deny;
    (dir == Direction::Ingress ? state.ingress_enforced : state.egress_enforced) = enforced;
    if (!enforced) {
      b.insert({.identity = 0, .direction = dir}, synthetic);
    } else if (dir == Direction::Ingress) {
      b.insert({.identity = kIdentityHost, .direction = dir}, synthetic);  // allow-localhost
    }
    for (size_t id : rules) {
      const PolicyRule& r = cluster_.policies.rules[id];
      if (r.peers.kind == PeerSet::Kind::None) continue;
      const uint32_t prec = rulePrecedence(r);
      MapValue v{.verdict = r.deny ? EntryVerdict::Deny
                                   : (r.l7.empty() ? EntryVerdict::Allow : EntryVerdict::Redirect),
                 .proxy_port = r.l7.empty() || r.deny ? uint16_t{0} : kDefaultProxyPort,
                 .precedence = prec,
                 .cookie = static_cast<uint32_t>(id + 1)};
      std::vector<IdentityId> all{0};
      const std::vector<IdentityId>& peers =
          r.peers.kind == PeerSet::Kind::All ? all : selectedPeers(r);
      for (IdentityId peer : peers) {
        if (r.icmps_present) {
          for (uint8_t t : r.icmp_types) {
            b.insert({.identity = peer,
                      .direction = dir,
                      .protocol = kProtoICMP,
                      .port = t,
                      .prefix_len = kPrefixFull},
                     v);
          }
          continue;
        }
        if (r.ports.empty()) {
          b.insert({.identity = peer, .direction = dir}, v);
          continue;
        }
        for (const auto& p : r.ports) {
          if (p.name.empty()) {
            b.insertPorts(peer, dir, p.protocol, p.port, p.end_port, v);
            continue;
          }
          auto add_named = [&](IdentityId target, const ContainerPort& cp) {
            if (p.protocol != kProtoAny && p.protocol != cp.protocol) return;
            b.insertPorts(target, dir, cp.protocol, cp.port, cp.port, v);
          };
          if (dir == Direction::Ingress) {
            for (const auto& cp : self.ports) {
              if (cp.name == p.name) add_named(peer, cp);
            }
            continue;
          }
          // Egress named ports resolve against the peer identity's ports; a wildcard peer
          // expands to every identity that has a port of that name.
          for (const auto& [pid, ident] : cluster_.identities) {
            if (peer != 0 && pid != peer) continue;
            auto range = ident.named_ports.equal_range(p.name);
            for (auto it = range.first; it != range.second; ++it) add_named(pid, it->second);
          }
        }
      }
    }
  }
  resolveCoverage(state);
  return state;
}

}  // namespace membrane::model
