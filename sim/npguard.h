// SPDX-License-Identifier: Apache-2.0
// np-guard netpol-analyzer's connection lists, parsed and compared semantically: same
// pairs, same connection sets, external ranges compared address by address.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/connectivity.h"

namespace membrane::sim {

struct ConnLine {
  std::string src;  // "ns/name[Kind]" or "" when external
  std::string dst;
  std::optional<std::pair<model::Ipv4, model::Ipv4>> src_range;  // set when src is external
  std::optional<std::pair<model::Ipv4, model::Ipv4>> dst_range;
  model::ConnSet conns;
};

// Parses `src => dst : conns` lines; a malformed line sets `error` and returns nullopt.
std::optional<std::vector<ConnLine>> parseConnList(const std::string& text, std::string* error);
// Lines of our own computation, in the same shape.
std::vector<ConnLine> toConnLines(const model::Cluster& c, const std::vector<model::ConnEntry>& e);

// np-guard's universe: TCP, UDP and SCTP on ports 1-65535 (no ICMP, no port 0).
model::ConnSet npGuardUniverse(const model::ConnSet& s);

// Every difference, as readable lines ("ns/a[Deployment] => 10.0.0.0-10.0.0.255[External]:
// ours TCP 80, expected All Connections"); empty when semantically equal.
std::vector<std::string> compareConnLists(const std::vector<ConnLine>& ours,
                                          const std::vector<ConnLine>& expected);

}  // namespace membrane::sim
