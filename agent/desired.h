// SPDX-License-Identifier: Apache-2.0
// Desired state from the directory source: the manifests of the watched directory plus
// the node's CNI-created endpoints, loaded into one model cluster. An endpoint whose Pod
// object (podNamespace/podName) is in the manifests is that pod (its labels, its policies);
// any other endpoint becomes a Pod of its own with the request's labels or the default
// {membrane.io/unmanaged-pod: "true"} in namespace default, so that policies select it
// and it gets an identity. Pods of the manifests on this node that no endpoint stands for
// do not run here: they get no address in the ipcache.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/config.h"
#include "agent/endpoints.h"
#include "dataplane/agent.h"
#include "model/engine.h"
#include "model/loader.h"

namespace membrane::agent {

inline constexpr const char* kUnmanagedLabel = "membrane.io/unmanaged-pod";
// The name the endpoints' Pods carry in diagnostics: an error there is the request's fault.
inline constexpr const char* kEndpointsSource = "(endpoints created through the API)";

struct ManifestSet {
  std::vector<model::ManifestText> texts;
  model::Diagnostics diags;  // unreadable files, missing directory
  // "namespace/name" of every Pod object, when known without loading (the store's keys):
  // then buildDesiredModel loads once instead of twice.
  std::optional<std::set<std::string>> pod_refs;
};
ManifestSet readManifests(const std::string& dir);

// The digest of a manifest set as `/status` reports it (desiredState.applied): FNV-1a 64 over
// each file's path relative to `dir`, a NUL, its bytes, a NUL, in the order read (sorted),
// as 16 hex digits. A writer of the watched directory (the simulator) computes the digest of
// what it wrote and waits until every agent reports it: the generation counter alone cannot
// say which content was applied when the watcher coalesces changes.
std::string manifestDigest(const ManifestSet& set, const std::string& dir);

// What the cluster store adds to the desired state (agent/store_source.h); empty for the
// directory source. Store records win over the manifests and the `nodes` setting for the
// same node or address: they are what the running agents publish.
struct ClusterView {
  std::shared_ptr<model::IdentityAllocator> identities;  // numbers label sets cluster-wide
  struct Node {
    uint32_t ip = 0;   // tunnel endpoint (host order)
    uint32_t via = 0;  // the node's address: next hop to its pod CIDR
    std::optional<dataplane::Ipv4Prefix> pod_cidr;
  };
  std::map<std::string, Node> nodes;  // other nodes, by name
  struct Endpoint {
    model::IdentityId identity = 0;
    std::string node;
    std::string pod;  // "namespace/name" of its model pod on its node; empty: unknown
    std::map<std::string, std::string> labels;  // that pod's labels
  };
  std::map<uint32_t, Endpoint> endpoints;  // other nodes' endpoints by address (host order)
};

// Where an endpoint's model pod comes from.
struct PodBinding {
  std::string pod_ref;  // "namespace/name" in the cluster
  bool from_manifests = false;
};

struct DesiredModel {
  model::LoadResult loaded;
  std::unique_ptr<model::Engine> engine;       // over loaded.cluster
  std::map<std::string, PodBinding> bindings;  // endpoint key -> its model pod
  std::map<std::string, uint32_t> node_ips;    // every known node (this one included)
  // status.podIP of the Pod objects as the manifests declare it (before placement).
  std::map<std::string, uint32_t> declared_ips;
  // Other nodes' pod CIDRs -> their address (routes via the uplink).
  std::map<dataplane::Ipv4Prefix, uint32_t> remote_routes;
  std::map<uint32_t, ClusterView::Endpoint> remote_endpoints;  // from the store
};

// The Pod of the manifests an endpoint binds to, when there is one.
std::optional<size_t> manifestPod(const model::Cluster& c, const EndpointRecord& r);

// The last model loads of an agent, by their input texts: a reconcile whose manifests and
// endpoint documents did not change (an endpoint created for a Pod object, a routine
// resync) copies the loaded cluster instead of parsing every manifest again. Two slots:
// buildDesiredModel loads the manifests alone and, when endpoints need Pods of their own,
// the manifests with those appended.
// A load that misses still parses only the texts that changed: every text's documents are
// kept by its name (for the store, `etcd:<key>`) with the text they came from, so a policy
// change parses one object, not the 10,000 Pod objects beside it (parsing and freeing the
// parse trees was two thirds of a load at 10,000 objects). The parse trees stay in memory.
class LoadCache {
 public:
  model::LoadResult load(const std::vector<model::ManifestText>& texts,
                         const model::ClusterOptions& options);
  size_t hits() const { return hits_; }
  size_t parsed() const { return parsed_; }  // texts parsed (the others were reused)

 private:
  struct Parsed {
    std::string text;
    std::vector<model::ManifestDoc> docs;
    model::Diagnostics diags;
    uint64_t used = 0;
  };
  model::LoadResult loadParsed(const std::vector<model::ManifestText>& texts,
                               const model::ClusterOptions& options);
  std::map<std::string, Parsed> parsed_docs_;  // by text name
  size_t parsed_ = 0;

  struct Slot {
    std::vector<model::ManifestText> texts;
    std::string options;  // cluster name and id (the identity allocator is the agent's own)
    model::LoadResult result;
    uint64_t used = 0;
  };
  Slot slots_[2];
  uint64_t clock_ = 0;
  size_t hits_ = 0;
};

// Loads manifests + endpoints. On errors in the manifests loaded.diags is not ok and the
// engine is null: the caller keeps its previous state. `cache` (may be null) saves loads of
// unchanged texts.
std::unique_ptr<DesiredModel> buildDesiredModel(const AgentConfig& config,
                                                const ManifestSet& manifests,
                                                const std::map<std::string, EndpointRecord>& eps,
                                                const ClusterView* view = nullptr,
                                                LoadCache* cache = nullptr);

// The node's desired datapath state from the model (identities through `ids`), with the
// endpoints' ifindex and MACs; fills identity/model_pod/effective_labels of `eps`.
dataplane::NodeState desiredNodeState(const AgentConfig& config, const DesiredModel& m,
                                      const dataplane::IdentityStabilizer& ids,
                                      std::map<std::string, EndpointRecord>& eps);

}  // namespace membrane::agent
