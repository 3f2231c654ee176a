// SPDX-License-Identifier: Apache-2.0
// The reference semantics: evaluate(flow) decides a flow from the rules, compile(endpoint)
// produces the endpoint's policy map state. Both work on identities, so scaling a
// workload changes neither the work nor the result for other pods.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/cluster.h"
#include "model/mapstate.h"

namespace membrane::model {

// One end of a flow: a pod of the cluster, or an address (node, external machine).
struct FlowEndpoint {
  std::optional<size_t> pod;  // index into Cluster::pods
  Ipv4 ip = 0;                // the pod's address when pod is set
};

struct Flow {
  FlowEndpoint src;
  FlowEndpoint dst;
  uint8_t protocol = kProtoTCP;  // kProtoTCP, UDP, SCTP or ICMP
  uint16_t port = 0;             // destination port; ICMP: the ICMP type (8 = echo request)
};

enum class DecisionReason : uint8_t {
  NotAnEndpoint,   // this side is not a managed pod: nothing enforced here
  NoPolicy,        // no policy selects the endpoint in this direction
  NotEnforced,     // selected only by rules that disable default deny: allow-all remains
  AllowedByRule,   // an allow rule matched
  L7Restricted,    // an L7 (proxy redirect) rule decided: no proxy, so the datapath drops it
  AllowLocalhost,  // ingress from the endpoint's own node (allow-localhost)
  DeniedByRule,    // a deny rule matched (Cilium drop reason 181, POLICY_DENY)
  DefaultDeny,     // default deny, nothing allowed it (drop reason 133, POLICY_DENIED)
  Loopback,        // a pod talking to itself never leaves it
};
std::string_view decisionReasonName(DecisionReason r);

// One L7 rule set of a deciding redirect rule (CiliumNetworkPolicy toPorts[].rules.<type>).
struct L7Restriction {
  size_t rule = 0;        // PolicyRule id
  std::string type;       // "http", "dns", "kafka", "l7"
  size_t rule_count = 0;  // entries under rules.<type>
  std::string policy;     // "CiliumNetworkPolicy ns/name"
  SourceLoc loc;          // of the toPorts item
};

// `allowed` means "plainly allowed": the datapath forwards the flow. A flow decided by an L7
// rule is NOT allowed (allowed = false, l7_restricted = true): no L7 proxy exists yet, and the
// datapath drops traffic it would redirect to a proxy that is not listening (fail closed).
struct SideDecision {
  Direction direction = Direction::Egress;
  bool allowed = true;
  bool l7_restricted = false;  // reason L7Restricted; `l7` lists the rules
  std::vector<L7Restriction> l7;
  DecisionReason reason = DecisionReason::NotAnEndpoint;
  IdentityId self_identity = 0;
  IdentityId peer_identity = 0;
  EntryVerdict verdict = EntryVerdict::Allow;
  uint32_t precedence = 0;
  std::vector<size_t> rules;  // deciding rules (ids); for default deny: the rules that enforce
};

struct Verdict {
  bool allowed = true;  // both sides plainly allowed
  // Not allowed only because of L7 rules: one side is L7-restricted, neither denies.
  bool l7_restricted = false;
  SideDecision egress;
  SideDecision ingress;
};

class Engine {
 public:
  explicit Engine(const Cluster& cluster);

  Verdict evaluate(const Flow& flow) const;
  // One side only: the decision of endpoint `pod` for `peer` in direction `dir`.
  SideDecision decide(size_t pod, Direction dir, IdentityId peer, uint8_t proto,
                      uint16_t port) const;
  MapState compile(size_t pod) const;

  // The identity of an address as seen on `viewer_node` (host there, remote-node elsewhere).
  IdentityId resolve(Ipv4 ip, const std::string& viewer_node) const;
  IdentityId identityOf(const FlowEndpoint& e, const std::string& viewer_node) const;
  // The ipcache of `viewer_node`: every pod address, node address and policy CIDR prefix
  // with its identity (addresses outside all of them are world). Agrees with resolve().
  std::vector<std::pair<Cidr, IdentityId>> ipcache(const std::string& viewer_node) const;
  const std::vector<size_t>& subjectRules(IdentityId id, Direction dir) const;
  bool peerSelects(const PolicyRule& r, IdentityId peer) const;
  // Every identity (sorted) that the rule's peers select; computed once per rule.
  const std::vector<IdentityId>& selectedPeers(const PolicyRule& r) const;
  // Identities whose labels match `sel`, found through a label index (sorted).
  std::vector<IdentityId> matchingIdentities(const LabelSelector& sel) const;
  const Cluster& cluster() const { return cluster_; }
  static uint32_t rulePrecedence(const PolicyRule& r);

 private:
  bool portMatches(const PolicyRule& r, const Pod& self, IdentityId peer, uint8_t proto,
                   uint16_t port) const;
  bool computePeerSelects(const PolicyRule& r, IdentityId peer) const;
  void markL7Restricted(SideDecision& d) const;  // fills the L7 fields from d.rules

  const Cluster& cluster_;
  std::unordered_map<IdentityId, std::vector<size_t>> subject_rules_[2];
  std::vector<std::pair<Cidr, IdentityId>>
      cidr_identities_;  // sorted by prefix length, longest first
  std::unordered_map<Ipv4, size_t> pod_by_ip_;
  std::unordered_map<Ipv4, std::string> node_by_ip_;
  // "source:key=value" (and "any:key=value") -> identities carrying that label, sorted.
  std::unordered_map<std::string, std::vector<IdentityId>> label_index_;
  std::vector<IdentityId> all_identities_;
  // Per rule id: the identities its peers select (lazily filled; not thread-safe).
  mutable std::vector<std::optional<std::vector<IdentityId>>> peer_cache_;
};

// Splits [lo, hi] into the fewest (port, prefix bits) blocks, like Cilium's PortRangeToMaskedPorts.
std::vector<std::pair<uint16_t, uint8_t>> portRangeToPrefixes(uint16_t lo, uint16_t hi);

}  // namespace membrane::model
