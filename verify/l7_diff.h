// SPDX-License-Identifier: Apache-2.0
// What a change does to the L7 rules in force: for each pair of workloads present before and
// after (each represented by its first pod, as in the connectivity matrix) and each port an L7
// rule names, the HTTP/DNS rules that decide the flow on each side, when they differ. The
// connectivity diff sees only that a port is L7-restricted; this sees which requests the
// proxy will let through.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "model/engine.h"
#include "model/l7_decide.h"

namespace membrane::verify {

struct L7DiffEntry {
  std::string src;   // "ns/name[Kind]"
  std::string dst;   // "ns/name[Kind]"
  std::string conn;  // "TCP 80"
  std::string side;  // "egress" (the source's rules) or "ingress" (the destination's)
  model::L7SideRules before;
  model::L7SideRules after;
};

// Ports: the numeric ports of every L7 rule in either policy set, and named ports resolved
// against every pod's container ports. Flows to external addresses are not compared.
std::vector<L7DiffEntry> diffL7(const model::Engine& before, const model::Engine& after);

// "L7 diff:" then two lines per entry; nothing when there are none.
void printL7DiffText(std::ostream& out, const std::vector<L7DiffEntry>& d);
void printL7DiffJson(std::ostream& out, const std::vector<L7DiffEntry>& d);

}  // namespace membrane::verify
