// SPDX-License-Identifier: Apache-2.0
#include "model/engine.h"

#include <algorithm>

namespace membrane::model {

std::string_view decisionReasonName(DecisionReason r) {
  switch (r) {
    case DecisionReason::NotAnEndpoint:
      return "not a managed endpoint";
    case DecisionReason::NoPolicy:
      return "no policy selects the endpoint";
    case DecisionReason::NotEnforced:
      return "selected, default deny disabled";
    case DecisionReason::AllowedByRule:
      return "allowed by rule";
    case DecisionReason::L7Restricted:
      return "L7 rule matched, no L7 proxy: dropped by the datapath";
    case DecisionReason::AllowLocalhost:
      return "allowed from the local host";
    case DecisionReason::DeniedByRule:
      return "denied by deny rule";
    case DecisionReason::DefaultDeny:
      return "default deny";
    case DecisionReason::Loopback:
      return "loopback";
  }
  return "?";
}

Engine::Engine(const Cluster& cluster) : cluster_(cluster) {
  for (const auto& [id, ident] : cluster.identities) {
    all_identities_.push_back(id);
    for (const auto& l : ident.labels.all()) {
      label_index_[l.source + ":" + l.key + "=" + l.value].push_back(id);
      if (l.source != kSourceAny)
        label_index_[std::string(kSourceAny) + ":" + l.key + "=" + l.value].push_back(id);
    }
  }
  // Subjects: only pods (cluster identities) are endpoints that enforce policy.
  for (const auto& r : cluster.policies.rules) {
    for (IdentityId id : matchingIdentities(r.subject)) {
      if (cluster.identities.at(id).kind != IdentityKind::Cluster) continue;
      subject_rules_[static_cast<int>(r.direction)][id].push_back(r.id);
    }
  }
  for (const auto& [id, ident] : cluster.identities) {
    if (ident.kind == IdentityKind::Cidr && ident.cidr)
      cidr_identities_.push_back({*ident.cidr, id});
  }
  std::sort(cidr_identities_.begin(), cidr_identities_.end(),
            [](const auto& a, const auto& b) { return a.first.len > b.first.len; });
  for (size_t i = 0; i < cluster.pods.size(); ++i) {
    if (cluster.pods[i].ip) pod_by_ip_.emplace(*cluster.pods[i].ip, i);
  }
  for (const auto& n : cluster.nodes) {
    if (n.internal_ip) node_by_ip_.emplace(*n.internal_ip, n.name);
  }
  peer_cache_.resize(cluster.policies.rules.size());
}

std::vector<IdentityId> Engine::matchingIdentities(const LabelSelector& sel) const {
  // Candidates: the smallest posting list among the selector's In requirements.
  const std::vector<IdentityId>* candidates = &all_identities_;
  static const std::vector<IdentityId> kNone;
  for (const auto& r : sel.requirements) {
    if (r.op != SelectorOp::In) continue;
    size_t total = 0;
    for (const auto& v : r.values) {
      auto it = label_index_.find(r.source + ":" + r.key + "=" + v);
      total += it == label_index_.end() ? 0 : it->second.size();
    }
    if (total == 0) return {};
    if (r.values.size() == 1 && total < candidates->size()) {
      candidates = &label_index_.at(r.source + ":" + r.key + "=" + r.values[0]);
    }
  }
  std::vector<IdentityId> out;
  for (IdentityId id : *candidates) {
    if (sel.matches(cluster_.identities.at(id).labels)) out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

const std::vector<IdentityId>& Engine::selectedPeers(const PolicyRule& r) const {
  auto& slot = peer_cache_[r.id];
  if (slot) return *slot;
  std::vector<IdentityId> out;
  if (r.peers.kind == PeerSet::Kind::All) {
    out = all_identities_;
  } else if (r.peers.kind == PeerSet::Kind::Some) {
    for (const auto& sel : r.peers.selectors) {
      auto m = matchingIdentities(sel);
      out.insert(out.end(), m.begin(), m.end());
    }
    if (!r.peers.cidrs.empty()) {
      for (const auto& [cidr, id] : cidr_identities_) {
        if (computePeerSelects(r, id)) out.push_back(id);
      }
      if (computePeerSelects(r, kIdentityWorld)) out.push_back(kIdentityWorld);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
  slot = std::move(out);
  return *slot;
}

const std::vector<size_t>& Engine::subjectRules(IdentityId id, Direction dir) const {
  static const std::vector<size_t> kNone;
  const auto& m = subject_rules_[static_cast<int>(dir)];
  auto it = m.find(id);
  return it == m.end() ? kNone : it->second;
}

IdentityId Engine::resolve(Ipv4 ip, const std::string& viewer_node) const {
  if (auto it = pod_by_ip_.find(ip); it != pod_by_ip_.end()) {
    return cluster_.pods[it->second].identity;
  }
  if (auto it = node_by_ip_.find(ip); it != node_by_ip_.end()) {
    return it->second == viewer_node ? kIdentityHost : kIdentityRemoteNode;
  }
  for (const auto& [cidr, id] : cidr_identities_) {
    if (cidr.contains(ip)) return id;
  }
  return kIdentityWorld;
}

std::vector<std::pair<Cidr, IdentityId>> Engine::ipcache(const std::string& viewer_node) const {
  std::vector<std::pair<Cidr, IdentityId>> out;
  auto host = [](Ipv4 ip) {
    Cidr c{.addr = ip, .len = 32};
    c.text = c.str();
    return c;
  };
  for (const auto& [cidr, id] : cidr_identities_) out.push_back({cidr, id});
  for (const auto& [ip, name] : node_by_ip_) {
    out.push_back({host(ip), name == viewer_node ? kIdentityHost : kIdentityRemoteNode});
  }
  for (const auto& [ip, pod] : pod_by_ip_) out.push_back({host(ip), cluster_.pods[pod].identity});
  return out;
}

IdentityId Engine::identityOf(const FlowEndpoint& e, const std::string& viewer_node) const {
  if (e.pod) return cluster_.pods[*e.pod].identity;
  return resolve(e.ip, viewer_node);
}

bool Engine::peerSelects(const PolicyRule& r, IdentityId peer) const {
  switch (r.peers.kind) {
    case PeerSet::Kind::None:
      return false;
    case PeerSet::Kind::All:
      return true;
    case PeerSet::Kind::Some:
      break;
  }
  if (r.id < peer_cache_.size() && &cluster_.policies.rules[r.id] == &r) {
    const auto& sel = selectedPeers(r);
    return std::binary_search(sel.begin(), sel.end(), peer);
  }
  return computePeerSelects(r, peer);
}

bool Engine::computePeerSelects(const PolicyRule& r, IdentityId peer) const {
  if (r.peers.kind != PeerSet::Kind::Some) return r.peers.kind == PeerSet::Kind::All;
  const Identity* ident = cluster_.identity(peer);
  if (ident == nullptr) return false;
  for (const auto& sel : r.peers.selectors) {
    if (sel.matches(ident->labels)) return true;
  }
  if (ident->cidr) {
    for (const auto& c : r.peers.cidrs) {
      if (!c.cidr.containsCidr(*ident->cidr)) continue;
      bool excepted = std::any_of(c.except.begin(), c.except.end(),
                                  [&](const Cidr& x) { return x.containsCidr(*ident->cidr); });
      if (!excepted) return true;
    }
  }
  return false;
}

namespace {
bool protoMatches(uint8_t spec, uint8_t proto) {
  if (spec == kProtoAny) return proto == kProtoTCP || proto == kProtoUDP || proto == kProtoSCTP;
  return spec == proto;
}
}  // namespace

bool Engine::portMatches(const PolicyRule& r, const Pod& self, IdentityId peer, uint8_t proto,
                         uint16_t port) const {
  if (r.icmps_present) {
    return proto == kProtoICMP &&
           std::find(r.icmp_types.begin(), r.icmp_types.end(), port) != r.icmp_types.end();
  }
  if (r.ports.empty()) return true;
  for (const auto& p : r.ports) {
    if (!protoMatches(p.protocol, proto)) continue;
    if (p.name.empty()) {
      if (port >= p.port && port <= p.end_port) return true;
      continue;
    }
    // Named ports: ingress resolves against the endpoint itself, egress against the peer.
    if (r.direction == Direction::Ingress) {
      for (const auto& cp : self.ports) {
        if (cp.name == p.name && cp.port == port && cp.protocol == proto) return true;
      }
    } else if (const Identity* ident = cluster_.identity(peer)) {
      auto range = ident->named_ports.equal_range(p.name);
      for (auto it = range.first; it != range.second; ++it) {
        if (it->second.port == port && it->second.protocol == proto) return true;
      }
    }
  }
  return false;
}

uint32_t Engine::rulePrecedence(const PolicyRule& r) {
  if (r.deny) return kPrecedenceDeny;
  if (!r.l7.empty()) {
    // Listener priorities as in Cilium: HTTP 101, DNS 121, others 126; byte = 255 - prio.
    const std::string& t = r.l7.front().type;
    const uint32_t prio = t == "http" ? 101 : (t == "dns" ? 121 : 126);
    return kPrecedenceRedirectBase | (255 - prio);
  }
  return kPrecedenceAllow;
}

SideDecision Engine::decide(size_t pod, Direction dir, IdentityId peer, uint8_t proto,
                            uint16_t port) const {
  const Pod& self = cluster_.pods[pod];
  SideDecision d{.direction = dir, .self_identity = self.identity, .peer_identity = peer};
  const auto& rules = subjectRules(self.identity, dir);
  if (rules.empty()) {
    d.reason = DecisionReason::NoPolicy;
    d.precedence = kPrecedenceAllow;  // the datapath holds an allow-all entry
    return d;
  }
  bool enforced = false;
  uint32_t best = 0;
  for (size_t id : rules) {
    const PolicyRule& r = cluster_.policies.rules[id];
    enforced |= r.default_deny;
    if (!peerSelects(r, peer) || !portMatches(r, self, peer, proto, port)) continue;
    const uint32_t prec = rulePrecedence(r);
    if (prec > best) {
      best = prec;
      d.rules.clear();
    }
    if (prec == best) d.rules.push_back(id);
  }
  if (best == 0) {
    if (dir == Direction::Ingress && peer == kIdentityHost && enforced) {
      d.reason = DecisionReason::AllowLocalhost;
      d.precedence = kPrecedenceAllow;
      return d;
    }
    if (!enforced) {
      d.reason = DecisionReason::NotEnforced;
      d.precedence = kPrecedenceAllow;
      return d;
    }
    d.allowed = false;
    d.reason = DecisionReason::DefaultDeny;
    d.rules = rules;
    return d;
  }
  d.precedence = best;
  if (best == kPrecedenceDeny) {
    d.allowed = false;
    d.verdict = EntryVerdict::Deny;
    d.reason = DecisionReason::DeniedByRule;
  } else if (best == kPrecedenceAllow) {
    d.verdict = EntryVerdict::Allow;
    d.reason = DecisionReason::AllowedByRule;
  } else {
    markL7Restricted(d);
  }
  return d;
}

void Engine::markL7Restricted(SideDecision& d) const {
  d.allowed = false;
  d.l7_restricted = true;
  d.verdict = EntryVerdict::Redirect;
  d.reason = DecisionReason::L7Restricted;
  for (size_t id : d.rules) {
    const PolicyRule& r = cluster_.policies.rules[id];
    const std::string policy = std::string(policyKindName(r.kind)) + " " +
                               (r.policy_namespace.empty() ? "" : r.policy_namespace + "/") +
                               r.policy_name;
    for (const L7Info& l : r.l7) {
      d.l7.push_back(
          {.rule = id, .type = l.type, .rule_count = l.rule_count, .policy = policy, .loc = r.loc});
    }
  }
}

Verdict Engine::evaluate(const Flow& flow) const {
  Verdict v;
  v.egress.direction = Direction::Egress;
  v.ingress.direction = Direction::Ingress;
  if (flow.src.pod && flow.dst.pod && *flow.src.pod == *flow.dst.pod) {
    v.egress.reason = v.ingress.reason = DecisionReason::Loopback;
    return v;
  }
  if (flow.src.pod) {
    const std::string& node = cluster_.pods[*flow.src.pod].node_name;
    v.egress = decide(*flow.src.pod, Direction::Egress, identityOf(flow.dst, node), flow.protocol,
                      flow.port);
  }
  if (flow.dst.pod) {
    const std::string& node = cluster_.pods[*flow.dst.pod].node_name;
    v.ingress = decide(*flow.dst.pod, Direction::Ingress, identityOf(flow.src, node), flow.protocol,
                       flow.port);
  }
  v.allowed = v.egress.allowed && v.ingress.allowed;
  v.l7_restricted = (v.egress.l7_restricted || v.ingress.l7_restricted) &&
                    (v.egress.allowed || v.egress.l7_restricted) &&
                    (v.ingress.allowed || v.ingress.l7_restricted);
  return v;
}

std::vector<std::pair<uint16_t, uint8_t>> portRangeToPrefixes(uint16_t lo, uint16_t hi) {
  std::vector<std::pair<uint16_t, uint8_t>> out;
  uint32_t start = lo;
  while (start <= hi) {
    uint32_t size = 1;
    uint8_t bits = 16;
    // Grow the block while it stays aligned and inside the range.
    while (bits > 0 && (start & (size * 2 - 1)) == 0 && start + size * 2 - 1 <= hi) {
      size *= 2;
      --bits;
    }
    out.push_back({static_cast<uint16_t>(start), bits});
    start += size;
  }
  return out;
}

}  // namespace membrane::model
