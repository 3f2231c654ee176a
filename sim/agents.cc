// SPDX-License-Identifier: Apache-2.0
#include "sim/agents.h"

#include "dataplane/ipcache_writer.h"

namespace membrane::sim {

dataplane::DatapathConfig simDatapathConfig(uint32_t tunnel_ifindex) {
  // Small maps: a simulated node holds a few hundred endpoints at most, and loading many
  // datapaths with the production sizes would cost memory for nothing.
  return {.trace_forward = MEMBRANE_TRACE_NEW,
          .tunnel_ifindex = tunnel_ifindex,
          .tunnel_mac = {0x02, 0x00, 0x00, 0x00, 0xfe, 0x01},
          .policy_map_size = 4096,
          .max_endpoints = 1024,
          .ipcache_size = 16384,
          .endpoints_size = 1024,
          .ct_size = 65536,
          .events_bytes = 1 << 22,
          .policy_cache_size = 16384};
}

std::map<std::string, dataplane::NodeState> desiredStates(
    const StepState& step, dataplane::IdentityStabilizer& identities) {
  std::map<std::string, dataplane::NodeState> out;
  identities.update(*step.cluster);
  dataplane::NodeStateOptions opts{.overlay = step.routing == Routing::Overlay,
                                   .node_ips = step.topology->nodeIps(),
                                   .default_node = step.topology->nodes.front().name,
                                   .identities = &identities};
  for (const auto& n : step.topology->nodes) {
    out[n.name] = dataplane::desiredNodeState(*step.engine, n.name, opts);
  }
  return out;
}

std::vector<dataplane::FlowEvent> drainEvents(SimNode& node) {
  if (!node.events) return {};
  auto r = node.events->drain();
  return r ? *r : std::vector<dataplane::FlowEvent>{};
}

std::string ipStr(uint32_t ip) { return dataplane::formatIpv4(ip); }

}  // namespace membrane::sim
