// SPDX-License-Identifier: Apache-2.0
#include "model/l7_decide.h"

#include <algorithm>
#include <set>

namespace membrane::model {
namespace {

// Numeric TCP ports only: a named port never widens an L7 rule to a wildcard here, so the
// answer can only be stricter than Cilium's, never looser.
bool plainAllowCovers(const Engine& engine, const SideDecision& d, uint16_t port) {
  for (size_t id : engine.subjectRules(d.self_identity, d.direction)) {
    const PolicyRule& r = engine.cluster().policies.rules[id];
    if (r.deny || !r.l7.empty() || r.icmps_present) continue;
    if (!engine.peerSelects(r, d.peer_identity)) continue;
    if (r.ports.empty()) return true;
    for (const PortSpec& p : r.ports) {
      if ((p.protocol == kProtoTCP || p.protocol == kProtoAny) && p.name.empty() &&
          port >= p.port && port <= p.end_port) {
        return true;
      }
    }
  }
  return false;
}

bool enforcesDefaultDeny(const Engine& engine, const SideDecision& d) {
  const auto& rules = engine.subjectRules(d.self_identity, d.direction);
  return std::any_of(rules.begin(), rules.end(),
                     [&](size_t id) { return engine.cluster().policies.rules[id].default_deny; });
}

std::string policyName(const PolicyRule& r) {
  return std::string(policyKindName(r.kind)) + " " +
         (r.policy_namespace.empty() ? "" : r.policy_namespace + "/") + r.policy_name;
}

HttpSideVerdict decideSide(const Engine& engine, const SideDecision& d, uint16_t port,
                           const HttpRequest& req) {
  HttpSideVerdict s;
  if (!d.l7_restricted) return s;
  s.applies = true;
  HttpPolicy policy;
  std::set<std::string> names;
  for (size_t id : d.rules) {
    const PolicyRule& r = engine.cluster().policies.rules[id];
    names.insert(policyName(r));
    for (const L7Info& l : r.l7) {
      if (l.type != "http") s.other_l7 = true;
      policy.rules.insert(policy.rules.end(), l.http.begin(), l.http.end());
    }
  }
  if (s.other_l7) {
    s.allowed = false;
    return s;
  }
  if (d.direction == Direction::Ingress) {
    s.ingress_dropped = true;
    s.allowed = false;
    return s;
  }
  s.wildcard = policy.wildcard =
      !enforcesDefaultDeny(engine, d) || plainAllowCovers(engine, d, port);
  const HttpMatch m = matchHttp(policy, req);
  s.allowed = m.allowed;
  if (m.rule) s.rule = m.rule->origin;
  if (!m.allowed) {
    for (const auto& n : names) s.policies += (s.policies.empty() ? "" : ", ") + n;
  }
  return s;
}

std::string describeSide(const char* dir, const HttpSideVerdict& s) {
  if (!s.applies) return std::string(dir) + ": no L7 rules (decided at L3/L4)";
  if (s.other_l7) return std::string(dir) + ": DNS/Kafka L7 rules, no proxy for them: dropped";
  if (s.ingress_dropped) {
    return std::string(dir) +
           ": HTTP rules on the destination's ingress: the datapath cannot hand entering "
           "packets to the proxy yet, so the flow is dropped (fail closed)";
  }
  if (!s.allowed) return std::string(dir) + ": DENIED, no HTTP rule of " + s.policies + " matches";
  if (!s.rule.empty()) return std::string(dir) + ": allowed by " + s.rule;
  return std::string(dir) + ": allowed (wildcard: an L3/L4 rule allows this peer and port)";
}

}  // namespace

HttpVerdict decideHttp(const Engine& engine, const Flow& flow, const Verdict& v,
                       const HttpRequest& req) {
  HttpVerdict h;
  if (!v.l7_restricted) {
    h.allowed = v.allowed;  // not redirected: the request is decided at L3/L4
    return h;
  }
  h.egress = decideSide(engine, v.egress, flow.port, req);
  h.ingress = decideSide(engine, v.ingress, flow.port, req);
  h.allowed = h.egress.allowed && h.ingress.allowed;
  return h;
}

L7SideRules l7SideRules(const Engine& engine, const SideDecision& d, uint16_t port) {
  L7SideRules out;
  if (!d.l7_restricted) return out;
  out.applies = true;
  std::set<std::string> http, dns, other;
  for (size_t id : d.rules) {
    for (const L7Info& l : engine.cluster().policies.rules[id].l7) {
      if (l.type == "http") {
        for (const HttpRule& r : l.http) http.insert(r.str());
      } else if (l.type == "dns") {
        for (const DnsRule& r : l.dns) dns.insert(r.str());
      } else {
        other.insert(l.type);
      }
    }
  }
  out.http.assign(http.begin(), http.end());
  out.dns.assign(dns.begin(), dns.end());
  out.other.assign(other.begin(), other.end());
  // The same merge as decideSide: only HTTP rules are widened by a plain allow.
  out.wildcard = !dns.empty() || !other.empty()
                     ? false
                     : !enforcesDefaultDeny(engine, d) || plainAllowCovers(engine, d, port);
  return out;
}

std::string L7SideRules::str() const {
  if (!applies) return "none";
  std::string s;
  auto part = [&](const char* type, const std::vector<std::string>& rules) {
    if (rules.empty()) return;
    s += (s.empty() ? "" : "; ") + std::string(type) + ": ";
    for (size_t i = 0; i < rules.size(); ++i) s += (i ? " | " : "") + rules[i];
  };
  if (wildcard) {
    s = "http: every request (wildcard: a plain L3/L4 allow covers this peer and port)";
  } else {
    part("http", http);
  }
  part("dns", dns);
  for (const auto& t : other) s += (s.empty() ? "" : "; ") + t + ": no proxy, dropped";
  return s;
}

std::string explainHttp(const HttpVerdict& h, const HttpRequest& req) {
  std::string s = "HTTP " + req.method + " " + req.target +
                  (req.host.empty() ? "" : " (Host: " + req.host + ")") + ": " +
                  (h.allowed ? "ALLOWED"
                   : h.egress.ingress_dropped || h.ingress.ingress_dropped || h.egress.other_l7 ||
                           h.ingress.other_l7
                       ? "DENIED (the flow is dropped)"
                       : "DENIED (the proxy answers 403)");
  s += "\n    " + describeSide("egress", h.egress);
  s += "\n    " + describeSide("ingress", h.ingress);
  return s;
}

}  // namespace membrane::model
