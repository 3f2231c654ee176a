// SPDX-License-Identifier: Apache-2.0
// A node agent's flows as the product serves them: its Hubble Observer (GetFlows with
// follow, on the agent's observer socket), read by a thread of the simulator. The agent
// consumes its datapath's ring buffer itself (a ring buffer has one consumer), so this is
// how the simulator sees drops: the same flows `membrane observe` shows an operator.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/abi.h"
#include "dataplane/result.h"
#include "flow/flow.pb.h"

namespace membrane::sim {

// One flow: the datapath record it came from (rebuilt from the flow's fields; an ICMP
// echo's identifier and the packet length are not part of a flow and stay 0) and what the
// agent adds (the policies that allowed or denied it, with their manifest file:line).
struct AgentFlow {
  dataplane::FlowEvent ev{};
  std::string policies;  // "ingress denied by NetworkPolicy shop/db (manifests.yaml:12)"
};

// The record a flow stands for (as agent/flows.cc built the flow from it).
AgentFlow agentFlowFromHubble(const flow::Flow& f);

// One line: the record as dataplane::formatFlowEvent prints it, with the match type but
// without the policy entry's key and cookie (a flow names the policy instead), then the
// policies that decided it.
std::string formatAgentFlow(const AgentFlow& f);

class AgentFlowStream {
 public:
  // Connects to `socket` (the agent's observer socket) and follows its flows from now on.
  static dataplane::Result<std::unique_ptr<AgentFlowStream>> open(const std::string& socket);
  ~AgentFlowStream();
  AgentFlowStream(const AgentFlowStream&) = delete;
  AgentFlowStream& operator=(const AgentFlowStream&) = delete;

  // Flows received since the last drain.
  std::vector<AgentFlow> drain();
  // The stream's error when it ended (empty while it runs).
  std::string error() const;

 private:
  AgentFlowStream() = default;
  void run(const std::string& socket, int64_t since_ns);

  grpc::ClientContext ctx_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<AgentFlow> pending_;
  std::string error_;
  std::atomic<bool> connected_{false};
};

}  // namespace membrane::sim
