// SPDX-License-Identifier: Apache-2.0
// The node agent's core: desired state of one node (its endpoints with their compiled
// policies, the cluster's ipcache as the node sees it) and reconcile(), which brings the
// node's datapath maps to that state by applying only the differences.
//
// Order of a reconcile, chosen so that flows whose verdict does not change never see a
// wrong one: (1) policies of every endpoint (each an atomic swap), (2) the ipcache
// (IpcacheWriter's longest-prefix-first order), (3) the endpoints map, (3b) services (after
// the ipcache, which routes to new backends; before (4), so a leaving backend is out of its
// services' slots first), (4) policy slots of endpoints that left. A flow between endpoints whose
// identities and deciding policy entries do not change reads the same entries throughout (each
// policy swap keeps them). Flows of a relabelled pod follow its new identity once (2) and (3) are
// done.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dataplane/datapath.h"
#include "dataplane/ipcache_writer.h"
#include "dataplane/lb_writer.h"
#include "dataplane/policy_writer.h"
#include "dataplane/result.h"
#include "model/engine.h"

namespace membrane::dataplane {

using Mac = std::array<uint8_t, 6>;

struct AgentEndpoint {
  std::string name;  // "namespace/pod": the stable key of the endpoint id
  uint32_t ip = 0;   // host order
  model::IdentityId identity = 0;
  uint32_t ifindex = 0;  // host-side veth in the node's namespace; 0 = not checked
  Mac mac{};             // the pod's interface
  Mac node_mac{};        // the host-side veth
  uint16_t flags = 0;    // MEMBRANE_ENDPOINT_F_* (e.g. per-endpoint policy audit mode)
  model::MapState policy;
};

struct NodeState {
  std::vector<AgentEndpoint> endpoints;
  IpcacheState ipcache;
  ServiceState services;  // ClusterIP frontends -> backends (dataplane/lb_services.h)
};

// Identity numbers that stay the same across successive model loads. The model numbers
// identities afresh on every load, so a relabel can shift the numbers of unrelated
// identities; written as they are, policies and ipcache would disagree for flows whose
// verdict does not change while a reconcile runs. Keyed by the identity's labels (cluster
// identities) or prefix (CIDR identities); reserved identities map to themselves.
class IdentityStabilizer {
 public:
  void update(const model::Cluster& cluster);
  model::IdentityId operator()(model::IdentityId id) const;
  // The key -> number assignments ("labels:..." / "cidr:..."), for a process that persists
  // them across restarts; restore() them before the first update().
  const std::map<std::string, model::IdentityId>& assignments() const { return by_key_; }
  void restore(const std::map<std::string, model::IdentityId>& assignments);

 private:
  std::map<std::string, model::IdentityId> by_key_;
  std::map<model::IdentityId, std::string> owner_;
  std::map<model::IdentityId, model::IdentityId> current_;
};

struct NodeStateOptions {
  bool overlay = false;                            // remote pods get their node as tunnel endpoint
  std::map<std::string, uint32_t> node_ips;        // node name -> underlay address (host order)
  std::string default_node;                        // where pods without spec.nodeName run
  const IdentityStabilizer* identities = nullptr;  // translate model numbers (optional)
};

// The desired state of `node`: its pods (ifindex and MACs left for the endpoint manager),
// the ipcache from model::Engine::ipcache(node) plus the nodes of `options` the manifests
// do not declare (host on their own node, remote-node elsewhere).
NodeState desiredNodeState(const model::Engine& engine, const std::string& node,
                           const NodeStateOptions& options);

struct ReconcileStats {
  size_t endpoints_added = 0;
  size_t endpoints_removed = 0;
  size_t endpoints_changed = 0;
  size_t policies_swapped = 0;
  size_t policy_entries_changed = 0;
  size_t ipcache_changes = 0;
  size_t services_changed = 0;  // frontends written or removed
  std::string str() const;
};

// With pinned maps (config.bpffs_root) an agent that restarts finds its state in the
// kernel: endpoint ids are recovered from the endpoints map (by address), and the writers
// diff against what the maps hold, so reconciling the same desired state after a restart
// changes nothing and no packet sees a gap.
class NodeAgent {
 public:
  static Result<std::unique_ptr<NodeAgent>> create(const DatapathConfig& config);

  Result<ReconcileStats> reconcile(const NodeState& desired);
  Datapath& datapath() { return *dp_; }
  const Datapath& datapath() const { return *dp_; }
  std::optional<uint16_t> endpointId(const std::string& name) const;

 private:
  NodeAgent() = default;
  uint16_t allocateId(const std::string& name, uint32_t ip);

  std::unique_ptr<Datapath> dp_;
  std::unique_ptr<PolicyWriter> policy_;
  std::unique_ptr<IpcacheWriter> ipcache_;
  std::unique_ptr<EndpointWriter> endpoints_;
  std::unique_ptr<LbWriter> services_;
  std::map<std::string, uint16_t> ids_;
  std::map<std::string, AgentEndpoint> current_;
  std::set<uint16_t> free_ids_;
  std::map<uint32_t, uint16_t> recovered_;  // address -> endpoint id found in pinned maps
  uint16_t next_id_ = 1;
};

}  // namespace membrane::dataplane
