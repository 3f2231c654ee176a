// SPDX-License-Identifier: Apache-2.0
#include "verify/l7_diff.h"

#include <map>
#include <set>

#include "verify/report.h"

namespace membrane::verify {
namespace {

using Port = std::pair<uint8_t, uint16_t>;  // protocol, port

// A range longer than this contributes only its first port: L7 rules name single ports
// (Cilium rejects L7 rules on port ranges), this bounds the work for odd inputs.
constexpr uint32_t kMaxRangePorts = 16;

void addPorts(const model::Cluster& c, std::set<Port>& out) {
  for (const auto& r : c.policies.rules) {
    if (r.l7.empty()) continue;
    for (const model::PortSpec& p : r.ports) {
      std::vector<uint8_t> protos;
      if (p.protocol == model::kProtoAny) {
        protos = {model::kProtoTCP, model::kProtoUDP, model::kProtoSCTP};
      } else {
        protos = {p.protocol};
      }
      for (uint8_t proto : protos) {
        if (!p.name.empty()) {
          for (const auto& pod : c.pods) {
            for (const auto& cp : pod.ports) {
              if (cp.name == p.name && cp.protocol == proto) out.insert({cp.protocol, cp.port});
            }
          }
          continue;
        }
        const uint32_t end =
            static_cast<uint32_t>(p.end_port - p.port) < kMaxRangePorts ? p.end_port : p.port;
        for (uint32_t port = p.port; port <= end && port != 0; ++port) {
          out.insert({proto, static_cast<uint16_t>(port)});
        }
      }
    }
  }
}

std::map<std::string, size_t> firstPods(const model::Cluster& c) {
  std::map<std::string, size_t> out;
  for (size_t i = 0; i < c.pods.size(); ++i) {
    if (c.pods[i].ip) out.try_emplace(c.workloads[c.pods[i].workload].ref(), i);
  }
  return out;
}

struct Sides {
  model::L7SideRules egress;
  model::L7SideRules ingress;
};

Sides sidesOf(const model::Engine& e, size_t src, size_t dst, Port port) {
  const model::Cluster& c = e.cluster();
  const model::Flow flow{.src = {.pod = src, .ip = *c.pods[src].ip},
                         .dst = {.pod = dst, .ip = *c.pods[dst].ip},
                         .protocol = port.first,
                         .port = port.second};
  const model::Verdict v = e.evaluate(flow);
  return {model::l7SideRules(e, v.egress, port.second),
          model::l7SideRules(e, v.ingress, port.second)};
}

}  // namespace

std::vector<L7DiffEntry> diffL7(const model::Engine& before, const model::Engine& after) {
  std::set<Port> ports;
  addPorts(before.cluster(), ports);
  addPorts(after.cluster(), ports);
  const auto w1 = firstPods(before.cluster());
  const auto w2 = firstPods(after.cluster());
  std::vector<L7DiffEntry> out;
  for (const auto& [src, s1] : w1) {
    auto s2 = w2.find(src);
    if (s2 == w2.end()) continue;
    for (const auto& [dst, d1] : w1) {
      auto d2 = w2.find(dst);
      if (d2 == w2.end() || src == dst) continue;
      for (const Port& p : ports) {
        const Sides a = sidesOf(before, s1, d1, p);
        const Sides b = sidesOf(after, s2->second, d2->second, p);
        const std::string conn =
            std::string(model::protocolName(p.first)) + " " + std::to_string(p.second);
        if (!(a.egress == b.egress)) out.push_back({src, dst, conn, "egress", a.egress, b.egress});
        if (!(a.ingress == b.ingress)) {
          out.push_back({src, dst, conn, "ingress", a.ingress, b.ingress});
        }
      }
    }
  }
  return out;
}

void printL7DiffText(std::ostream& out, const std::vector<L7DiffEntry>& d) {
  if (d.empty()) return;
  out << "L7 diff:\n";
  for (const auto& e : d) {
    out << "source: " << e.src << ", destination: " << e.dst << ", " << e.conn << ", " << e.side
        << " rules\n    before: " << e.before.str() << "\n    after:  " << e.after.str() << "\n";
  }
}

void printL7DiffJson(std::ostream& out, const std::vector<L7DiffEntry>& d) {
  out << "[";
  for (size_t i = 0; i < d.size(); ++i) {
    const auto& e = d[i];
    out << (i ? ",\n  " : "\n  ") << "{\"source\": \"" << jsonEscape(e.src)
        << "\", \"destination\": \"" << jsonEscape(e.dst) << "\", \"connection\": \""
        << jsonEscape(e.conn) << "\", \"side\": \"" << e.side << "\", \"before\": \""
        << jsonEscape(e.before.str()) << "\", \"after\": \"" << jsonEscape(e.after.str()) << "\"}";
  }
  out << (d.empty() ? "" : "\n") << "]";
}

}  // namespace membrane::verify
