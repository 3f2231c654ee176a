// SPDX-License-Identifier: Apache-2.0
// Hubble's Observer gRPC service (agent/proto/observer/observer.proto) over the agent's
// flow ring: GetFlows (filters, number/first, follow, since/until), GetNodes, ServerStatus.
// Served on a unix socket and, optionally, a TCP address (loopback or the node IP); `hubble observe
// --server unix://<socket>` and `membrane observe` are its clients.
#pragma once

#include <memory>
#include <string>

#include "agent/flows.h"
#include "agent/state.h"

namespace membrane::agent {

struct ObserverOptions {
  std::string socket;  // absolute path; mode 0660, a stale socket file is replaced
  std::string listen;  // "127.0.0.1:4245" or "[::1]:4245"; empty = no TCP
  std::string node_name;
  std::string version = "membrane";
};

class ObserverServer {
 public:
  static Result<std::unique_ptr<ObserverServer>> start(FlowRing& ring,
                                                       const ObserverOptions& options);
  ~ObserverServer();  // ends follow streams, stops serving, removes the socket file
  ObserverServer(const ObserverServer&) = delete;
  ObserverServer& operator=(const ObserverServer&) = delete;

 private:
  struct Impl;
  explicit ObserverServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace membrane::agent
