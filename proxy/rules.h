// SPDX-License-Identifier: Apache-2.0
// The proxy's rule table: the L7 rules of every redirected (endpoint, direction, remote
// identity, port) on this node, and the node's ipcache (address -> identity) the proxy uses to
// learn a peer's identity. The agent writes both into one JSON file, atomically (side file +
// rename); the proxy re-reads it when it changes and at start, so a restarted proxy has its
// rules before it accepts a connection. Format: docs/l7.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/diagnostics.h"
#include "model/ip.h"
#include "model/l7.h"

namespace membrane::proxy {

enum class L7Direction : uint8_t { Ingress, Egress };

struct RuleEntry {
  model::Ipv4 endpoint = 0;  // the local pod whose policy this is
  L7Direction direction = L7Direction::Egress;
  uint16_t port = 0;                        // destination port (host order)
  std::vector<uint32_t> remote_identities;  // empty: every identity
  model::HttpPolicy http;
};

class RuleTable {
 public:
  // Every entry for (endpoint, direction, port) whose remote identities include `remote`,
  // merged: the request must match one rule of the union (Cilium merges per selector and
  // port the same way). Returns false when no entry exists: nothing allows the connection.
  bool lookup(model::Ipv4 endpoint, L7Direction dir, uint32_t remote, uint16_t port,
              model::HttpPolicy* out) const;
  // Longest-prefix match in the ipcache; reserved:world (2) when no prefix contains `ip`.
  uint32_t identityOf(model::Ipv4 ip) const;
  bool hasEndpoint(model::Ipv4 ip, L7Direction dir) const;
  size_t size() const { return entries_.size(); }

  std::vector<RuleEntry> entries_;
  std::vector<std::pair<model::Cidr, uint32_t>> ipcache_;  // sorted, longest prefix first
};

// Parses the rules file text; errors name the file, the JSON path and what was expected.
model::Result<std::shared_ptr<const RuleTable>> parseRuleTable(const std::string& text,
                                                               const std::string& file);
model::Result<std::shared_ptr<const RuleTable>> loadRuleTable(const std::string& file);

}  // namespace membrane::proxy
