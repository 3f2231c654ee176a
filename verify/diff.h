// SPDX-License-Identifier: Apache-2.0
// Differential reachability between two policy sets (or two clusters): what a change newly
// allows and newly denies between today's workloads and external address ranges, in
// np-guard's diff format. Each entry is a class of flows (a workload pair or a workload and
// an address range, with the connections on both sides) with one concrete witness flow.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "model/connectivity.h"

namespace membrane::verify {

enum class DiffType { Added, Removed, Changed };
std::string_view diffTypeName(DiffType t);

struct DiffWitness {
  std::string src;  // "ns/pod (ip)" or an address
  std::string dst;
  uint8_t protocol = 0;
  uint16_t port = 0;
  bool newly_allowed = false;  // allowed in ref2, denied in ref1
};

struct DiffEntry {
  DiffType type = DiffType::Changed;
  std::string src;  // "ns/name[Kind]" or "a.b.c.d-e.f.g.h[External]"
  std::string dst;
  std::optional<std::pair<model::Ipv4, model::Ipv4>> src_range;  // set when src is external
  std::optional<std::pair<model::Ipv4, model::Ipv4>> dst_range;
  model::ConnSet ref1;
  model::ConnSet ref2;
  std::string workloads_info;  // "workload X added", np-guard's workloads-diff-info
  DiffWitness witness;
};

struct DiffOptions {
  // np-guard's universe: TCP, UDP and SCTP on ports 1-65535 (no ICMP).
  bool npguard_universe = false;
};

std::vector<DiffEntry> diffConnectivity(const model::Cluster& c1,
                                        const std::vector<model::ConnEntry>& e1,
                                        const model::Cluster& c2,
                                        const std::vector<model::ConnEntry>& e2,
                                        const DiffOptions& options = {});

// "diff-type: added, source: ..., destination: ..., ref1: ..., ref2: ..."
void printDiffText(std::ostream& out, const std::vector<DiffEntry>& d);
struct ServiceDiffEntry;  // verify/service_diff.h
struct L7DiffEntry;       // verify/l7_diff.h
// {"diff": [...]} and, when given, "services": [...] (verify/service_diff.h) and "l7": [...]
// (verify/l7_diff.h).
void printDiffJson(std::ostream& out, const std::vector<DiffEntry>& d,
                   const std::vector<ServiceDiffEntry>* services = nullptr,
                   const std::vector<L7DiffEntry>* l7 = nullptr);

}  // namespace membrane::verify
