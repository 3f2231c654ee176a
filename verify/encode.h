// SPDX-License-Identifier: Apache-2.0
// The symbolic encoding of the policy rules (model::PolicyRule, not compile()'s output).
//
// An endpoint is a kind (0 = pod, a reserved identity number, 2 = an external address),
// for pods a label assignment over the Universe's keys (each an int code: absent, other,
// or a named value) and the pod's named ports, for external addresses a 32-bit address.
// Scope Any lets a pod take every label assignment consistent with the cluster (declared
// namespaces keep their labels, the cluster label is fixed); scope Existing restricts pods
// to the classes of today's pods. Fixed endpoints (one known class, one address) are
// constants, so every selector folds and only the relevant rules reach the solver.
//
// Per direction the semantics mirror model::Engine::decide: no selecting rule -> allowed;
// a matching deny -> denied; else a matching allow/redirect -> allowed; else allowed when
// no selecting rule enables default deny, or on ingress from the local host; else denied.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/cluster.h"
#include "model/l7.h"
#include "verify/smt/smt.h"
#include "verify/universe.h"

namespace membrane::verify {

// Endpoint kinds: a pod, an external address, or a reserved identity (its number).
inline constexpr int64_t kKindPod = 0;
inline constexpr int64_t kKindExternal = 2;  // world and CIDR identities (addresses)
inline constexpr int64_t kKindMax = 10;      // reserved identities 1..10

enum class Scope { Any, Existing };

struct SymNamedPort {
  smt::Expr present;  // bool
  smt::Expr port;     // int 1..65535
  smt::Expr proto;    // int: 6, 17 or 132
};

struct SymEndpoint {
  std::string name;  // "src", "dst": prefix of its variables
  Scope scope = Scope::Any;
  smt::Expr kind;                                   // int
  std::map<std::string, smt::Expr> labels;          // key -> int code
  smt::Expr addr;                                   // bv32, meaningful for kKindExternal
  smt::Expr cls;                                    // int class index (scope Existing)
  std::map<std::string, SymNamedPort> named_ports;  // scope Any
  std::optional<size_t> fixed_class;                // a constant endpoint of one class
};

struct SymFlow {
  SymEndpoint src;
  SymEndpoint dst;
  smt::Expr proto;  // int
  smt::Expr port;   // int; ICMP: the type
};

// Verdict codes (translation validation compares them).
inline constexpr int64_t kVerdictDeny = 0;
inline constexpr int64_t kVerdictAllow = 1;
inline constexpr int64_t kVerdictRedirect = 2;

class Encoder {
 public:
  Encoder(smt::Context& ctx, const model::Cluster& cluster, const Universe& universe);

  smt::Context& ctx() { return ctx_; }
  const model::Cluster& cluster() const { return cluster_; }
  const Universe& universe() const { return universe_; }
  const std::vector<EndpointClass>& classes() const { return classes_; }

  // A symbolic endpoint; its domain constraints are asserted into the context.
  SymEndpoint endpoint(const std::string& name, Scope scope);
  // A constant endpoint: one existing class, or one address.
  SymEndpoint fixedPod(const std::string& name, size_t cls);
  SymEndpoint fixedOther(const std::string& name, int64_t kind, model::Ipv4 addr);
  // A flow over two endpoints; asserts the protocol/port domain and that one end is a pod.
  SymFlow flow(SymEndpoint src, SymEndpoint dst);
  // Protocols TCP, UDP, SCTP with ports 1..65535 and ICMP with types 0..255.
  void assertFlowDomain(smt::Expr proto, smt::Expr port);

  smt::Expr isPod(const SymEndpoint& e);
  // Whether a selector matches the endpoint's labels (pods, reserved, external).
  smt::Expr selects(const model::LabelSelector& sel, const SymEndpoint& e);
  smt::Expr peerSelects(const model::PolicyRule& r, const SymEndpoint& peer);
  smt::Expr inCidr(const SymEndpoint& e, const model::Cidr& c);
  // The endpoint has this identity (existing classes, reserved, CIDR/world identities).
  smt::Expr hasIdentity(const SymEndpoint& e, model::IdentityId id);

  // Allowed on one side (`self` must be a pod); `rule_filter` (when set) lists the only
  // rules that exist, for lint's what-ifs.
  smt::Expr sideAllows(model::Direction dir, const SymEndpoint& self, const SymEndpoint& peer,
                       smt::Expr proto, smt::Expr port,
                       const std::vector<bool>* rule_filter = nullptr);
  smt::Expr sideVerdict(model::Direction dir, const SymEndpoint& self, const SymEndpoint& peer,
                        smt::Expr proto, smt::Expr port,
                        const std::vector<bool>* rule_filter = nullptr);
  smt::Expr flowAllowed(const SymFlow& f, const std::vector<bool>* rule_filter = nullptr);
  // A flow's verdict with L7 as its own outcome: `l7` holds when the flow is allowed and a
  // side's verdict is a redirect to a proxy (an allow rule with rules.http/dns/kafka that
  // beats plain allows). No proxy enforces those yet, so such a flow is neither plainly
  // allowed nor denied ("L7-restricted").
  struct FlowVerdict {
    smt::Expr allowed;  // allowed, L7 redirects included
    smt::Expr l7;       // allowed and decided by an L7 rule on some side
  };
  FlowVerdict flowVerdict(const SymFlow& f, const std::vector<bool>* rule_filter = nullptr);

  // Whether the flow carries HTTP request `req` (both sides): a side that policy redirects to
  // the proxy allows it when the deciding HTTP rules match it or Cilium's wildcard applies (no
  // default deny, or a plain allow with numeric TCP ports covering the peer and port), as
  // model::decideHttp; a side decided by DNS/Kafka redirects drops it; other sides as
  // flowAllowed. For TCP flows.
  smt::Expr flowAllowsRequest(const SymFlow& f, const model::HttpRequest& req,
                              const std::vector<bool>* rule_filter = nullptr);

  // Whether rule r matches (subject, peer and port) and selects `self`.
  smt::Expr ruleMatches(const model::PolicyRule& r, const SymEndpoint& self,
                        const SymEndpoint& peer, smt::Expr proto, smt::Expr port);
  smt::Expr subjectSelects(const model::PolicyRule& r, const SymEndpoint& self);

 private:
  struct SideParts {
    std::vector<smt::Expr> selected, enforcing, deny, redirect, allow;
  };
  SideParts sideParts(model::Direction dir, const SymEndpoint& self, const SymEndpoint& peer,
                      smt::Expr proto, smt::Expr port, const std::vector<bool>* rule_filter);
  smt::Expr sideAllowsRequest(model::Direction dir, const SymEndpoint& self,
                              const SymEndpoint& peer, smt::Expr proto, smt::Expr port,
                              const model::HttpRequest& req, const std::vector<bool>* rule_filter);
  smt::Expr podRequirement(const model::Requirement& req, const SymEndpoint& e);
  smt::Expr externalSelects(const model::LabelSelector& sel, const SymEndpoint& e);
  smt::Expr longestPrefixIs(const SymEndpoint& e, const model::Cidr& c);
  smt::Expr portMatches(const model::PolicyRule& r, const SymEndpoint& self,
                        const SymEndpoint& peer, smt::Expr proto, smt::Expr port);
  smt::Expr namedPortMatches(const std::string& name, uint8_t spec_proto, const SymEndpoint& e,
                             bool identity_level, smt::Expr proto, smt::Expr port);
  void assertPodDomain(SymEndpoint& e);
  smt::Expr classLabels(const SymEndpoint& e, size_t cls);

  smt::Context& ctx_;
  const model::Cluster& cluster_;
  const Universe& universe_;
  std::vector<EndpointClass> classes_;
  std::vector<model::Cidr> prefixes_;  // every IPv4 prefix a policy names (CIDR identities)
  std::vector<size_t> rules_by_dir_[2];
};

// Protocols a flow may carry and the port domain of each.
bool isPortProtocol(uint8_t proto);

}  // namespace membrane::verify
