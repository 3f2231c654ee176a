// SPDX-License-Identifier: Apache-2.0
// What a change (policy, Service, EndpointSlice, pods) does to connections through Services:
// for each workload as a client (its first pod, as in the connectivity matrix) and each Service
// port, the backends a connection may be allowed to reach before and after.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "model/engine.h"
#include "verify/diff.h"

namespace membrane::verify {

struct ServiceDiffEntry {
  DiffType type = DiffType::Changed;  // added: no backend reachable before; removed: none after
  std::string src;                    // "ns/name[Kind]"
  std::string service;                // "svc:ns/name TCP 443"
  // "pay/a (10.1.0.1) on n1 port 8443": reachable after and not before, and the reverse.
  std::vector<std::string> newly_allowed;
  std::vector<std::string> newly_denied;
};

std::vector<ServiceDiffEntry> diffServices(const model::Engine& before, const model::Engine& after);

// "Service diff:" then one line per entry; nothing when there are none.
void printServiceDiffText(std::ostream& out, const std::vector<ServiceDiffEntry>& d);
// A JSON array of the entries.
void printServiceDiffJson(std::ostream& out, const std::vector<ServiceDiffEntry>& d);

}  // namespace membrane::verify
