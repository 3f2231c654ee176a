// SPDX-License-Identifier: Apache-2.0
// Flows to a Service, reasoned through its backends as the datapath forwards them: the
// frontend (VIP or svc:NS/NAME, port, protocol) is DNATed to a backend address and its target
// port, and policy then sees the backend (docs/policy-semantics.md, Services).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/engine.h"

namespace membrane::model {

// "svc:NS/NAME" (or "svc:NAME" in namespace default). nullptr with *why when it names nothing.
// Returns nullptr without *why when `text` does not start with "svc:".
const Service* parseServiceRef(const Cluster& c, std::string_view text, std::string* why);

// The index of the Service port that takes `port`/`protocol`, or nullopt.
std::optional<size_t> findServicePort(const Service& s, uint16_t port, uint8_t protocol);

struct BackendVerdict {
  const ServiceBackend* backend = nullptr;
  uint16_t target_port = 0;  // 0: the backend does not serve this Service port
  Verdict verdict;           // of the DNATed flow; meaningless when target_port is 0
  bool allowed() const { return target_port != 0 && verdict.allowed; }
};

struct ServiceVerdict {
  const Service* service = nullptr;
  size_t port_index = 0;
  // The backends a new connection may go to (ready endpoints; with internalTrafficPolicy
  // Local, only those on the client's node), in the Service's order.
  std::vector<BackendVerdict> backends;
  // Endpoints that take no new connection (not ready, terminating), named in explanations.
  std::vector<const ServiceBackend*> idle;
  size_t allowedCount() const;
  // Every candidate backend allows the flow (and there is at least one).
  bool allAllowed() const { return !backends.empty() && allowedCount() == backends.size(); }
};

// The flow from `src` to service port `port_index` of `s`, through each backend.
ServiceVerdict evaluateThroughService(const Engine& engine, const FlowEndpoint& src,
                                      const Service& s, size_t port_index);

// "ALLOWED via every backend (2)", "DENIED via 1 of 2 backends", "NO BACKEND".
std::string serviceVerdictWord(const ServiceVerdict& v);
// One block per backend: DNAT target, verdict and the explanation of both sides.
std::string explainServiceVerdict(const Engine& engine, const ServiceVerdict& v);
// "pay/a (10.1.0.1) on n1" or "203.0.113.5" for an address outside the cluster.
std::string backendName(const Cluster& c, const ServiceBackend& b);

}  // namespace membrane::model
