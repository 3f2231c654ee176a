// SPDX-License-Identifier: Apache-2.0
// membrane-agent's core: one owner of the node's kernel state (the datapath with its pinned
// maps, the VXLAN device, endpoints, routes) and of its state directory (IPAM, endpoint
// store, routes). A level-triggered reconciler: reconcile() reads the desired state (the
// watched manifests + the endpoints) and the actual one (what the maps and the recorded
// routes hold), and applies the difference. Thread-safe: API handlers and the reconcile
// loop serialise on one mutex.
//
// Restart: start() finds the pins and the state directory, re-adopts the endpoints whose
// host veth still exists (same ifindex; programs swapped in place, maps untouched) and
// reconciles; nothing is re-created. The destructor leaves the kernel state as it is (a
// node keeps enforcing while the agent is down); uninstall() removes it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "agent/config.h"
#include "agent/desired.h"
#include "agent/endpoints.h"
#include "agent/node_net.h"
#include "agent/state.h"
#include "dataplane/agent.h"
#include "dataplane/sock_lb.h"

namespace membrane::agent {

class ClusterStore;

// Errors carry errno-style codes; the API maps them to HTTP (docs/agent-api.md):
// EINVAL 400 invalid, ENOENT 404 not-found, EEXIST 409 conflict, EAGAIN 503 not-ready,
// ENOSPC 507 ipam-exhausted, EPROTO 409 check-failed, anything else 500 internal.
struct CreateRequest {
  std::string container_id;
  std::string ifname;
  std::string netns;
  std::string pod_namespace;
  std::string pod_name;
  std::map<std::string, std::string> labels;
  uint32_t ip = 0;  // requested address, 0 = none
};

struct CreateResult {
  EndpointRecord endpoint;
  bool created = false;  // false: it existed with the same parameters
};

class Agent {
 public:
  // Opens the state directory and loads (or re-adopts) the datapath; no endpoint is
  // touched yet. `net` is the kernel seam (KernelNodeNet in the daemon).
  static Result<std::unique_ptr<Agent>> open(const AgentConfig& config,
                                             std::unique_ptr<NodeNet> net);
  ~Agent();

  // Re-adopts recorded endpoints, then the first reconcile. Ready afterwards when it
  // succeeded; otherwise the caller retries reconcile() with backoff.
  Status start();
  // desiredState etcd: the store (owned by the caller, outliving the agent) replaces the
  // directory as the source and adds identities, nodes and ipcache (agent/store_source.h).
  void attachStore(ClusterStore* store) { cluster_ = store; }
  // Re-reads the manifests when `reload` (the watcher saw a change) and applies.
  Status reconcile(bool reload);

  Result<CreateResult> createEndpoint(const CreateRequest& req);
  Status deleteEndpoint(const std::string& container_id, const std::string& ifname);
  Result<EndpointRecord> endpoint(const std::string& container_id, const std::string& ifname);
  std::vector<EndpointRecord> endpoints();
  Status checkEndpoint(const std::string& container_id, const std::string& ifname);
  Result<nlohmann::json> endpointPolicy(const std::string& container_id, const std::string& ifname);
  // Per-endpoint options (today: policy audit mode); persisted, then in force through a
  // reconcile. Returns the endpoint as recorded afterwards.
  Result<EndpointRecord> configureEndpoint(const std::string& container_id,
                                           const std::string& ifname, bool policy_audit);
  Result<std::vector<std::string>> gc(const std::set<std::string>& keep);

  bool ready();
  nlohmann::json status();
  // desiredState.revision alone (status() also counts the maps): benchmarks poll it.
  int64_t appliedRevision() {
    std::lock_guard lock(mu_);
    return applied_revision_;
  }
  const AgentConfig& config() const { return config_; }
  dataplane::Datapath& datapath() { return node_->datapath(); }

  // Called under the agent's lock after every reconcile, and at once when set and a state
  // is in force (replay): the flow observer takes its names from the applied state
  // (flows.h), the metrics count regenerations and their time (metrics.h).
  struct ReconcileOutcome {
    const DesiredModel* model = nullptr;  // the applied state; null: the reconcile failed
    const dataplane::IdentityStabilizer* ids = nullptr;
    double seconds = 0;   // how long the reconcile took
    bool replay = false;  // onReconciled() handing over the state already in force
  };
  using ReconcileHook = std::function<void(const ReconcileOutcome&)>;
  void onReconciled(ReconcileHook hook);

  // Removes everything an agent with `config` created: endpoints' veths, routes, the
  // VXLAN device, pins, state files, the socket. Works without a running agent.
  static Status uninstall(const AgentConfig& config, NodeNet& net);

 private:
  Agent() = default;
  Status loadDatapath();
  Status adopt();
  Status reconcileLocked(bool reload);
  Status readStore();
  Status applyRoutes(const DesiredModel& m);
  Status saveIdentities();
  Status wireEndpoint(EndpointRecord& r, std::vector<std::function<void()>>& undo);
  Result<CreateResult> existing(const CreateRequest& req, const EndpointRecord& r);
  uint32_t addressFor(const CreateRequest& req);
  Status removeLocked(const std::string& key);
  void fail(const std::string& what);
  double elapsed() const;  // seconds since reconcile_started_

  AgentConfig config_;
  std::unique_ptr<NodeNet> net_;
  std::unique_ptr<dataplane::NodeAgent> node_;
  std::unique_ptr<dataplane::SocketLb> socket_lb_;  // socketLBCgroup set; destroyed before node_
  std::unique_ptr<Ipam> ipam_;
  std::unique_ptr<EndpointStore> store_;
  ManifestSet manifests_;
  LoadCache loads_;  // model loads of unchanged manifests are copied, not parsed again
  bool manifests_read_ = false;
  std::unique_ptr<DesiredModel> model_;  // the last good one
  dataplane::IdentityStabilizer ids_;
  std::map<std::string, model::IdentityId> saved_ids_;  // what identities.json holds
  std::map<dataplane::Ipv4Prefix, uint32_t> routes_;    // installed: remote pod CIDR -> via
  int uplink_ = 0;
  bool ready_ = false;
  uint64_t revision_ = 0;  // successful reconciles that changed the desired state
  // Manifest sets read and applied (desiredState.generation) and the applied set's digest
  // (desiredState.applied): a writer of the directory waits on them (docs/agent-api.md).
  uint64_t generation_ = 0;
  std::string applied_digest_;
  ClusterStore* cluster_ = nullptr;  // desiredState etcd
  std::string pending_digest_;       // of manifests_ when read from the store
  int64_t pending_revision_ = 0, applied_revision_ = 0;
  bool pending_read_ = false;  // manifests_ was read but not yet applied
  std::string last_error_;
  std::chrono::system_clock::time_point last_reconcile_{};
  ReconcileHook reconcile_hook_;
  std::chrono::steady_clock::time_point reconcile_started_{};
  std::mutex mu_;
};

// State directory layout.
std::string ipamPath(const AgentConfig& c);
std::string endpointsPath(const AgentConfig& c);
std::string routesPath(const AgentConfig& c);
std::string identitiesPath(const AgentConfig& c);

}  // namespace membrane::agent
