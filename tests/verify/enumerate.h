// SPDX-License-Identifier: Apache-2.0
// Exhaustive enumeration of an invariant's flows over a concrete cluster through
// model::Engine: every pod pair, every reserved identity, one address per region the
// policies' and the invariant's prefixes cut, one port per region cut by rule, named and
// invariant ports. The oracle the verifier's answers are checked against.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/engine.h"
#include "verify/invariants.h"

namespace membrane::verify::oracle {

// One candidate endpoint of the enumeration.
struct End {
  std::optional<size_t> pod;
  model::IdentityId reserved = 0;  // host, remote-node, ... when set
  model::Ipv4 ip = 0;              // external address otherwise
};

struct Violation {
  End src, dst;
  uint8_t protocol = 0;
  uint16_t port = 0;
  bool l7 = false;  // allowed, but through an L7 redirect
  std::string str(const model::Cluster& c) const;
};

bool inSpec(const model::Cluster& c, const PeerSpec& s, const End& e);
std::vector<model::Ipv4> addresses(const model::Cluster& c, const Invariant& inv);
std::vector<std::pair<uint8_t, uint16_t>> ports(const model::Cluster& c, const Invariant& inv);
bool portInSpec(const Invariant& inv, uint8_t proto, uint16_t port);
// Whether the flow is allowed; `l7` says whether an L7 redirect decided a side of it.
bool allowed(const model::Engine& engine, const End& s, const End& d, uint8_t proto, uint16_t port,
             bool& l7);
// Whether the TCP flow carries HTTP request `req`: the engine's verdict, and for an
// L7-restricted flow model::decideHttp (the proxy's answer).
bool requestAllowed(const model::Engine& engine, const End& s, const End& d, uint16_t port,
                    const model::HttpRequest& req);
// The first flow of the invariant that violates it in the engine (L7-restricted flows
// violate either expectation, unless the invariant has an HTTP request: then the request's
// answer decides), if any.
std::optional<Violation> findViolation(const model::Cluster& c, const Invariant& inv);

}  // namespace membrane::verify::oracle
