// SPDX-License-Identifier: Apache-2.0
// The policy IR: every NetworkPolicy, CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy
// is translated into PolicyRules with one meaning (Cilium's). evaluate() and compile() and
// the SMT encoding all read this, never the YAML.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/diagnostics.h"
#include "model/ip.h"
#include "model/l7.h"
#include "model/labels.h"
#include "model/mapstate.h"

namespace membrane::model {

enum class PolicyKind : uint8_t {
  NetworkPolicy,
  CiliumNetworkPolicy,
  CiliumClusterwideNetworkPolicy
};
std::string_view policyKindName(PolicyKind k);

struct PortSpec {
  std::string name;       // named port (resolved per endpoint); empty when numeric
  uint16_t port = 0;      // 0 = every port
  uint16_t end_port = 0;  // inclusive end of a range; == port for a single port
  uint8_t protocol = 0;   // kProtoTCP/UDP/SCTP; kProtoAny = TCP, UDP and SCTP
  std::string str() const;
};

struct CidrSpec {
  Cidr cidr;
  std::vector<Cidr> except;
  bool matches(Ipv4 ip) const;
};

// The L3 side of a rule: which peers it selects.
struct PeerSet {
  enum class Kind : uint8_t { None, All, Some };
  Kind kind = Kind::None;                // None: selects nothing; All: every identity
  std::vector<LabelSelector> selectors;  // endpoints and entities (reserved labels)
  std::vector<CidrSpec> cidrs;
  std::string str() const;
};

struct L7Info {
  std::string type;  // "http", "dns", "kafka", "l7"
  size_t rule_count = 0;
  std::vector<HttpRule> http;  // type "http": the parsed rules (model/l7.h)
  std::vector<DnsRule> dns;    // type "dns"
};

struct PolicyRule {
  size_t id = 0;  // index in PolicyRepository::rules; map entries carry cookie = id + 1
  PolicyKind kind = PolicyKind::NetworkPolicy;
  std::string policy_namespace;  // empty for cluster-wide
  std::string policy_name;
  std::string path;  // "spec.ingress[0]" / "specs[1].egressDeny[0]"
  SourceLoc loc;
  LabelSelector subject;
  Direction direction = Direction::Ingress;
  bool deny = false;
  bool default_deny = true;  // whether this rule turns on default deny for its direction
  PeerSet peers;
  std::vector<PortSpec> ports;      // empty and no icmps: all protocols and ports
  bool icmps_present = false;       // an icmps section: only ICMP of icmp_types matches
  std::vector<uint8_t> icmp_types;  // ICMPv4 types
  std::vector<L7Info> l7;           // non-empty: redirect to proxy
  std::string describe() const;     // "CiliumNetworkPolicy ns/name spec.ingress[0] (file:line)"
};

// Proxy port the compiled state uses for L7 redirects until a proxy exists.
inline constexpr uint16_t kDefaultProxyPort = 15001;

struct PolicyRepository {
  std::vector<PolicyRule> rules;
  size_t policy_count = 0;  // number of policy objects (specs count once)
};

}  // namespace membrane::model
