// SPDX-License-Identifier: Apache-2.0
#include "model/explain.h"

namespace membrane::model {

std::string identityName(const Cluster& cluster, IdentityId id) {
  if (id == 0) return "any";
  auto name = reservedIdentityName(id);
  if (!name.empty()) return std::to_string(id) + " (reserved:" + std::string(name) + ")";
  const Identity* ident = cluster.identity(id);
  if (ident && ident->cidr) return std::to_string(id) + " (cidr:" + ident->cidr->str() + ")";
  if (ident) {
    std::string s;
    for (const auto& l : ident->labels.all()) {
      if (l.key == kLabelServiceAccount || l.key == kLabelCluster ||
          l.key.starts_with(kLabelNamespaceLabelsPrefix)) {
        continue;
      }
      s += (s.empty() ? "" : ",") + l.key + "=" + l.value;
    }
    return std::to_string(id) + " (" + s + ")";
  }
  return std::to_string(id);
}

std::string explainSide(const Engine& engine, const SideDecision& d) {
  const Cluster& c = engine.cluster();
  std::string s = std::string(directionName(d.direction)) + ": ";
  s += d.allowed ? "allowed" : (d.l7_restricted ? "L7-RESTRICTED" : "DENIED");
  s += " (" + std::string(decisionReasonName(d.reason)) + ")";
  if (d.reason == DecisionReason::NotAnEndpoint || d.reason == DecisionReason::Loopback) return s;
  s += " self=" + identityName(c, d.self_identity) + " peer=" + identityName(c, d.peer_identity);
  const char* label = d.reason == DecisionReason::DefaultDeny ? "enforced by" : "rule";
  for (size_t id : d.rules) {
    s += "\n    " + std::string(label) + ": " + c.policies.rules[id].describe();
  }
  for (const L7Restriction& l : d.l7) s += "\n    L7 rules: " + describeL7(l);
  if (d.l7_restricted) {
    s += "\n    no L7 proxy listens: the datapath drops this flow (PROXY_LOOKUP_FAILED)"
         " instead of enforcing the L7 rules";
  }
  return s;
}

std::string_view verdictWord(const Verdict& v) {
  return v.allowed ? "ALLOWED" : (v.l7_restricted ? "L7-RESTRICTED" : "DENIED");
}

std::string describeL7(const L7Restriction& l) {
  return l.type + " (" + std::to_string(l.rule_count) + (l.rule_count == 1 ? " rule" : " rules") +
         ") in " + l.policy + " (" + l.loc.str() + ")";
}

std::string explainVerdict(const Engine& engine, const Verdict& v) {
  return explainSide(engine, v.egress) + "\n  " + explainSide(engine, v.ingress);
}

}  // namespace membrane::model
