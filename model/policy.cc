// SPDX-License-Identifier: Apache-2.0
#include "model/policy.h"

namespace membrane::model {

std::string_view policyKindName(PolicyKind k) {
  switch (k) {
    case PolicyKind::NetworkPolicy:
      return "NetworkPolicy";
    case PolicyKind::CiliumNetworkPolicy:
      return "CiliumNetworkPolicy";
    case PolicyKind::CiliumClusterwideNetworkPolicy:
      return "CiliumClusterwideNetworkPolicy";
  }
  return "?";
}

std::string PortSpec::str() const {
  std::string s(protocolName(protocol));
  if (!name.empty()) return s + "/" + name;
  if (port == 0) return s + "/*";
  s += "/" + std::to_string(port);
  if (end_port != port) s += "-" + std::to_string(end_port);
  return s;
}

bool CidrSpec::matches(Ipv4 ip) const {
  if (!cidr.contains(ip)) return false;
  for (const auto& x : except) {
    if (x.contains(ip)) return false;
  }
  return true;
}

std::string PeerSet::str() const {
  if (kind == Kind::None) return "nothing";
  if (kind == Kind::All) return "all";
  std::string s;
  for (const auto& sel : selectors) s += (s.empty() ? "" : " | ") + sel.str();
  for (const auto& c : cidrs) {
    s += (s.empty() ? "" : " | ") + c.cidr.str();
    for (const auto& x : c.except) s += " except " + x.str();
  }
  return s.empty() ? "nothing" : s;
}

std::string PolicyRule::describe() const {
  std::string s(policyKindName(kind));
  s += " " + (policy_namespace.empty() ? "" : policy_namespace + "/") + policy_name + " " + path;
  s += " (" + loc.str() + ")";
  return s;
}

}  // namespace membrane::model
