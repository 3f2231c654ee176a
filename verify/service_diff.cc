// SPDX-License-Identifier: Apache-2.0
#include "verify/service_diff.h"

#include <algorithm>
#include <map>
#include <set>

#include "model/mapstate.h"
#include "model/service_view.h"
#include "verify/report.h"

namespace membrane::verify {
namespace {

// (client workload, "svc:ns/name PROTO port") -> backends the client is allowed to reach.
using Reach = std::map<std::pair<std::string, std::string>, std::set<std::string>>;

Reach reachThroughServices(const model::Engine& engine) {
  const model::Cluster& c = engine.cluster();
  std::map<size_t, size_t> first_pod;  // workload -> its first pod
  for (size_t i = 0; i < c.pods.size(); ++i) first_pod.try_emplace(c.pods[i].workload, i);
  Reach out;
  for (const auto& [w, pod] : first_pod) {
    const model::FlowEndpoint src{.pod = pod, .ip = c.pods[pod].ip.value_or(0)};
    for (const auto& s : c.services) {
      for (size_t pi = 0; pi < s.ports.size(); ++pi) {
        const std::string key = "svc:" + s.ref() + " " +
                                std::string(model::protocolName(s.ports[pi].protocol)) + " " +
                                std::to_string(s.ports[pi].port);
        auto& set = out[{c.workloads[w].ref(), key}];
        for (const auto& b : model::evaluateThroughService(engine, src, s, pi).backends) {
          if (b.allowed()) {
            set.insert(model::backendName(c, *b.backend) + " port " +
                       std::to_string(b.target_port));
          }
        }
      }
    }
  }
  return out;
}

std::vector<std::string> minus(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::vector<std::string> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

void printList(std::ostream& out, const char* key, const std::vector<std::string>& l) {
  out << ", \"" << key << "\": [";
  for (size_t i = 0; i < l.size(); ++i) out << (i ? ", " : "") << "\"" << jsonEscape(l[i]) << "\"";
  out << "]";
}

}  // namespace

std::vector<ServiceDiffEntry> diffServices(const model::Engine& before,
                                           const model::Engine& after) {
  const Reach r1 = reachThroughServices(before);
  const Reach r2 = reachThroughServices(after);
  std::set<std::pair<std::string, std::string>> keys;
  for (const auto& [k, v] : r1) keys.insert(k);
  for (const auto& [k, v] : r2) keys.insert(k);
  static const std::set<std::string> kNone;
  std::vector<ServiceDiffEntry> out;
  for (const auto& k : keys) {
    auto a = r1.find(k);
    auto b = r2.find(k);
    const auto& sa = a == r1.end() ? kNone : a->second;
    const auto& sb = b == r2.end() ? kNone : b->second;
    if (sa == sb) continue;
    ServiceDiffEntry e{.src = k.first,
                       .service = k.second,
                       .newly_allowed = minus(sb, sa),
                       .newly_denied = minus(sa, sb)};
    e.type = sa.empty() ? DiffType::Added : sb.empty() ? DiffType::Removed : DiffType::Changed;
    out.push_back(std::move(e));
  }
  return out;
}

void printServiceDiffText(std::ostream& out, const std::vector<ServiceDiffEntry>& d) {
  if (d.empty()) return;
  out << "Service diff:\n";
  auto join = [](const std::vector<std::string>& l) {
    std::string s;
    for (const auto& x : l) s += (s.empty() ? "" : "; ") + x;
    return s;
  };
  for (const auto& e : d) {
    out << "diff-type: " << diffTypeName(e.type) << ", source: " << e.src
        << ", service: " << e.service;
    if (!e.newly_allowed.empty()) out << ", newly allowed: " << join(e.newly_allowed);
    if (!e.newly_denied.empty()) out << ", newly denied: " << join(e.newly_denied);
    out << "\n";
  }
}

void printServiceDiffJson(std::ostream& out, const std::vector<ServiceDiffEntry>& d) {
  out << "[";
  for (size_t i = 0; i < d.size(); ++i) {
    const auto& e = d[i];
    out << (i ? ",\n  " : "\n  ") << "{\"diff-type\": \"" << diffTypeName(e.type)
        << "\", \"source\": \"" << jsonEscape(e.src) << "\", \"service\": \""
        << jsonEscape(e.service) << "\"";
    printList(out, "newly-allowed", e.newly_allowed);
    printList(out, "newly-denied", e.newly_denied);
    out << "}";
  }
  out << (d.empty() ? "" : "\n") << "]";
}

}  // namespace membrane::verify
