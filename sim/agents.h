// SPDX-License-Identifier: Apache-2.0
// One node agent per scenario node, shared by the bpf and netns backends: loads a datapath
// per node, reconciles each step's desired state, drains the nodes' flow events.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/agent.h"
#include "dataplane/observe.h"
#include "sim/sim.h"

namespace membrane::sim {

struct SimNode {
  std::string name;
  std::unique_ptr<dataplane::NodeAgent> agent;
  std::unique_ptr<dataplane::EventReader> events;
};

dataplane::DatapathConfig simDatapathConfig(uint32_t tunnel_ifindex);

// The desired state of every node of the step (ifindex/MACs left to the endpoint
// manager), identity numbers kept stable across steps by `identities` (updated here).
std::map<std::string, dataplane::NodeState> desiredStates(
    const StepState& step, dataplane::IdentityStabilizer& identities);

// Event lines of `node` since the last drain.
std::vector<dataplane::FlowEvent> drainEvents(SimNode& node);

// "10.0.0.1" for the host-order address.
std::string ipStr(uint32_t ip);

}  // namespace membrane::sim
