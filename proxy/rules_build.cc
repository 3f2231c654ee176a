// SPDX-License-Identifier: Apache-2.0
#include "proxy/rules_build.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

namespace membrane::proxy {
namespace {

using nlohmann::json;

json httpRuleJson(const model::HttpRule& r) {
  json j{{"origin", r.origin}};
  if (r.method) j["method"] = r.method->pattern();
  if (r.path) j["path"] = r.path->pattern();
  if (r.host) j["host"] = r.host->pattern();
  json hs = json::array();
  for (const auto& h : r.headers) {
    json hj{{"name", h.name}};
    if (h.value) hj["value"] = *h.value;
    hs.push_back(hj);
  }
  if (!hs.empty()) j["headers"] = hs;
  return j;
}

bool tcpPort(const model::PortSpec& p, uint16_t port) {
  return (p.protocol == model::kProtoTCP || p.protocol == model::kProtoAny) && p.name.empty() &&
         port >= p.port && port <= p.end_port;
}

// Peers that a plain (no L7) allow rule of the same pod and direction also allows on `port`:
// for them Cilium appends a wildcard HTTP rule (still proxied, every request allowed).
std::set<model::IdentityId> plainAllowed(const model::Engine& engine,
                                         const std::vector<size_t>& rules, uint16_t port,
                                         bool* all) {
  std::set<model::IdentityId> out;
  *all = false;
  for (size_t id : rules) {
    const model::PolicyRule& r = engine.cluster().policies.rules[id];
    if (r.deny || !r.l7.empty() || r.icmps_present) continue;
    const bool port_ok =
        r.ports.empty() || std::any_of(r.ports.begin(), r.ports.end(),
                                       [&](const auto& p) { return tcpPort(p, port); });
    if (!port_ok) continue;
    if (r.peers.kind == model::PeerSet::Kind::All) *all = true;
    const auto& peers = engine.selectedPeers(r);
    out.insert(peers.begin(), peers.end());
  }
  return out;
}

void addEntries(const model::Engine& engine, const model::Pod& pod, model::Direction dir,
                const IdentityTranslate& tr, json& entries) {
  const auto& rules = engine.subjectRules(pod.identity, dir);
  bool enforced = false;
  for (size_t id : rules) enforced |= engine.cluster().policies.rules[id].default_deny;
  for (size_t id : rules) {
    const model::PolicyRule& r = engine.cluster().policies.rules[id];
    if (r.deny) continue;
    json http = json::array();
    for (const auto& l : r.l7) {
      if (l.type != "http") continue;
      for (const auto& h : l.http) http.push_back(httpRuleJson(h));
    }
    if (http.empty()) continue;
    const bool any_peer = r.peers.kind == model::PeerSet::Kind::All;
    const auto& peers = engine.selectedPeers(r);
    for (const auto& p : r.ports) {
      if (!p.name.empty() || (p.protocol != model::kProtoTCP && p.protocol != model::kProtoAny))
        continue;
      if (uint32_t{p.end_port} - p.port >= kMaxRangePorts) continue;
      for (uint32_t port = p.port; port <= p.end_port; ++port) {
        bool plain_all = false;
        const auto plain = plainAllowed(engine, rules, static_cast<uint16_t>(port), &plain_all);
        json base{{"endpoint", model::formatIpv4(*pod.ip)},
                  {"direction", dir == model::Direction::Egress ? "egress" : "ingress"},
                  {"port", port},
                  {"http", http}};
        // Default allow (enableDefaultDeny false everywhere) never denies other requests.
        if (!enforced || plain_all) {
          base["wildcard"] = true;
          if (!any_peer) {
            json ids = json::array();
            for (model::IdentityId id : peers) ids.push_back(tr(id));
            base["remote_identities"] = ids;
          }
          entries.push_back(base);
          continue;
        }
        json strict = json::array(), wild = json::array();
        for (model::IdentityId id : peers) (plain.count(id) ? wild : strict).push_back(tr(id));
        if (any_peer) {
          entries.push_back(base);  // wildcard peers with a plain allow: listed below
        } else if (!strict.empty()) {
          json e = base;
          e["remote_identities"] = strict;
          entries.push_back(e);
        }
        if (!wild.empty()) {
          json e = base;
          e["remote_identities"] = wild;
          e["wildcard"] = true;
          entries.push_back(e);
        }
      }
    }
  }
}

}  // namespace

std::string buildRulesJson(const model::Engine& engine, const std::string& node,
                           const IdentityTranslate& translate) {
  const IdentityTranslate tr = translate ? translate : [](model::IdentityId id) { return id; };
  json ipcache = json::array();
  for (const auto& [cidr, id] : engine.ipcache(node)) {
    if (!cidr.ipv6) ipcache.push_back({{"cidr", cidr.str()}, {"identity", tr(id)}});
  }
  json entries = json::array();
  for (const model::Pod& pod : engine.cluster().pods) {
    if (pod.node_name != node || !pod.ip) continue;
    addEntries(engine, pod, model::Direction::Egress, tr, entries);
    addEntries(engine, pod, model::Direction::Ingress, tr, entries);
  }
  json root{{"version", 1}, {"ipcache", ipcache}, {"entries", entries}};
  return root.dump(1);
}

}  // namespace membrane::proxy
