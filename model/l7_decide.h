// SPDX-License-Identifier: Apache-2.0
// The L7 answer of the model for one HTTP request on a flow that policy redirects to the proxy
// (Verdict::l7_restricted): per side, the HTTP rules of the deciding redirect rules, Cilium's
// wildcard when a plain allow covers the same peer and port (or the direction does not
// enforce default deny), and whether the request matches, as membrane-proxy decides it.
#pragma once

#include <string>
#include <vector>

#include "model/engine.h"
#include "model/l7.h"

namespace membrane::model {

struct HttpSideVerdict {
  bool applies = false;  // this side redirected the flow (its L7 rules decide the request)
  bool allowed = true;
  bool wildcard = false;  // a plain allow for the same peer/port: every request allowed
  bool other_l7 = false;  // dns/kafka/l7 rules: no proxy for them, the request is dropped
  // An ingress redirect: the datapath cannot hand a packet entering a pod to the proxy yet
  // (bpf/lib/proxy.h), so the flow is dropped whatever the request.
  bool ingress_dropped = false;
  std::string rule;       // origin of the matching HTTP rule
  std::string policies;   // policies whose rules did not match (when denied)
};

struct HttpVerdict {
  bool allowed = false;  // both sides allow the flow and every applying side the request
  HttpSideVerdict egress;
  HttpSideVerdict ingress;
};

// The L7 rules in force on one side of a flow on `port`, in a canonical form for comparing two
// policy sets (`membrane diff`): sorted rule texts per type, and Cilium's wildcard.
struct L7SideRules {
  bool applies = false;            // the side is L7-restricted (a redirect rule decides it)
  bool wildcard = false;           // a plain allow covers the peer and port: every request allowed
  std::vector<std::string> http;   // HttpRule::str() of every rule, sorted, unique
  std::vector<std::string> dns;    // DnsRule::str()
  std::vector<std::string> other;  // types without typed rules ("kafka", "l7")
  // "http: method=GET path=/a | any request"; "http: every request (wildcard: ...)";
  // "none" when the side is not L7-restricted.
  std::string str() const;
  bool operator==(const L7SideRules&) const = default;
};
L7SideRules l7SideRules(const Engine& engine, const SideDecision& d, uint16_t port);

// `v` is engine.evaluate(flow). A flow that is not L7-restricted gets v.allowed.
HttpVerdict decideHttp(const Engine& engine, const Flow& flow, const Verdict& v,
                       const HttpRequest& req);
// "HTTP GET /path: ALLOWED by <rule>" / "DENIED (403): no rule of <policies> matches".
std::string explainHttp(const HttpVerdict& h, const HttpRequest& req);

}  // namespace membrane::model
