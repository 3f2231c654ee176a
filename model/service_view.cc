// SPDX-License-Identifier: Apache-2.0
#include "model/service_view.h"

#include "model/explain.h"

namespace membrane::model {

const Service* parseServiceRef(const Cluster& c, std::string_view text, std::string* why) {
  if (!text.starts_with("svc:")) return nullptr;
  std::string rest(text.substr(4));
  const auto slash = rest.find('/');
  const std::string ns = slash == std::string::npos ? "default" : rest.substr(0, slash);
  const std::string name = slash == std::string::npos ? rest : rest.substr(slash + 1);
  if (const Service* s = c.findService(ns, name)) return s;
  *why = "\"" + std::string(text) +
         "\" names no Service (expected svc:NAMESPACE/NAME of a loaded "
         "Service)";
  return nullptr;
}

std::optional<size_t> findServicePort(const Service& s, uint16_t port, uint8_t protocol) {
  for (size_t i = 0; i < s.ports.size(); ++i) {
    if (s.ports[i].port == port && s.ports[i].protocol == protocol) return i;
  }
  return std::nullopt;
}

size_t ServiceVerdict::allowedCount() const {
  size_t n = 0;
  for (const auto& b : backends) n += b.allowed() ? 1 : 0;
  return n;
}

ServiceVerdict evaluateThroughService(const Engine& engine, const FlowEndpoint& src,
                                      const Service& s, size_t port_index) {
  const Cluster& c = engine.cluster();
  ServiceVerdict out{.service = &s, .port_index = port_index};
  // internalTrafficPolicy Local: a pod's connection only goes to backends on its own node.
  const std::string client_node = src.pod && s.internal_traffic_policy == TrafficPolicy::Local
                                      ? c.pods[*src.pod].node_name
                                      : "";
  for (const auto& b : s.backend_endpoints) {
    if (!b.ready) {
      out.idle.push_back(&b);
      continue;
    }
    if (!client_node.empty() && b.node_name != client_node) continue;
    BackendVerdict bv{.backend = &b, .target_port = s.targetPort(b, port_index)};
    if (bv.target_port != 0) {
      bv.verdict = engine.evaluate({.src = src,
                                    .dst = {.pod = b.pod, .ip = b.ip},
                                    .protocol = s.ports[port_index].protocol,
                                    .port = bv.target_port});
    }
    out.backends.push_back(std::move(bv));
  }
  return out;
}

std::string serviceVerdictWord(const ServiceVerdict& v) {
  const size_t n = v.backends.size();
  const size_t ok = v.allowedCount();
  if (n == 0) return "NO BACKEND";
  if (ok == n) return "ALLOWED via every backend (" + std::to_string(n) + ")";
  if (ok == 0) return "DENIED via every backend (" + std::to_string(n) + ")";
  return "ALLOWED via " + std::to_string(ok) + " of " + std::to_string(n) +
         " backends (the datapath picks one per connection)";
}

std::string backendName(const Cluster& c, const ServiceBackend& b) {
  if (!b.pod) return formatIpv4(b.ip);
  std::string s = c.pods[*b.pod].ref() + " (" + formatIpv4(b.ip) + ")";
  if (!b.node_name.empty()) s += " on " + b.node_name;
  return s;
}

namespace {
std::string indent(std::string text) {
  for (size_t at = text.find('\n'); at != std::string::npos; at = text.find('\n', at + 1))
    text.insert(at + 1, "  ");
  return text;
}
}  // namespace

std::string explainServiceVerdict(const Engine& engine, const ServiceVerdict& v) {
  const Cluster& c = engine.cluster();
  const ServicePort& sp = v.service->ports[v.port_index];
  std::string s;
  if (v.backends.empty()) {
    s += "  the Service has no backend for new connections: the datapath drops the flow";
  }
  for (const auto& b : v.backends) {
    s += "  backend " + backendName(c, *b.backend) + ": ";
    if (b.target_port == 0) {
      s += "DENIED (serves no port for targetPort \"" + sp.target_port + "\")\n";
      continue;
    }
    s += "DNAT to " + formatIpv4(b.backend->ip) + ":" + std::to_string(b.target_port) + ": " +
         std::string(verdictWord(b.verdict)) + "\n    " +
         indent(explainVerdict(engine, b.verdict)) + "\n";
  }
  for (const auto* b : v.idle) {
    s += "  endpoint " + backendName(c, *b) + ": takes no new connection (" +
         (b->terminating ? "terminating" : "not ready") + ")\n";
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace membrane::model
