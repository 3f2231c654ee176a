// SPDX-License-Identifier: Apache-2.0
// The agent on the cluster store (desiredState: etcd; docs/agent.md, docs/kvstore.md):
//  - the desired objects, mirrored from <prefix>objects/ by a list + a resuming watch, so a
//    reconnect misses no event and replays none;
//  - identities numbered cluster-wide by the etcd allocator, behind a cache: a label set
//    this node already holds never goes to etcd again (reconciles need no round trip, and
//    an unreachable store changes no number);
//  - this node's record and its endpoints' IP -> identity, published under its lease (the
//    lease id is kept in the state directory, so a restart within the TTL takes it back);
//  - every node and every endpoint the other agents publish, mirrored the same way.
// Everything the agent reads comes from the mirrors in memory: when etcd is down the agent
// keeps the last state it saw (the datapath keeps enforcing it) and catches up on return.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "agent/config.h"
#include "agent/desired.h"
#include "kvstore/identity_allocator.h"
#include "kvstore/registry.h"
#include "kvstore/watch.h"

namespace membrane::agent {

// Wakes the agent's loop (the etcd counterpart of DirWatcher's wait/wake).
class Trigger {
 public:
  // True when woken by a change since the last wait; false on timeout.
  bool wait(int timeout_ms);
  void wake();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool fired_ = false;
};

// One prefix kept in memory: listed once, then watched from the list's revision + 1; a
// compaction (the watch cannot resume) makes the next sync() list again.
class PrefixMirror {
 public:
  PrefixMirror(std::shared_ptr<kvstore::Client> client, std::string prefix,
               std::function<void()> on_change)
      : client_(std::move(client)), prefix_(std::move(prefix)), on_change_(std::move(on_change)) {}
  ~PrefixMirror();
  // Lists and starts watching when not yet (or no longer, after a compaction) watching.
  kvstore::Status sync();
  bool synced() const;
  bool connected() const;
  // The store revision everything up to which is in items().
  int64_t revision() const;
  std::map<std::string, std::string> items() const;  // key -> value

 private:
  void onEvents(const std::vector<kvstore::WatchEvent>& events, int64_t revision);
  void onState(kvstore::WatchState s);

  std::shared_ptr<kvstore::Client> client_;
  std::string prefix_;
  std::function<void()> on_change_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> items_;
  int64_t revision_ = 0;
  bool synced_ = false;
  bool connected_ = false;
  std::unique_ptr<kvstore::Watch> watch_;
};

// The desired objects as the agent applies them: named by their key below the prefix
// (objects/Kind/ns/name), in key order.
struct DesiredSnapshot {
  ManifestSet set;
  std::string digest;    // desiredState.applied (storeDigest)
  int64_t revision = 0;  // desiredState.revision: every write up to it is in `set`
};

// FNV-1a 64 over each object's key relative to the prefix, a NUL, its stored value, a NUL,
// in key order, as 16 hex digits (the directory digest with keys for paths).
std::string storeDigest(const std::map<std::string, std::string>& objects_by_relative_key);

class ClusterStore;

// With the store numbering label sets, the stabilizer keeps only CIDR identities' numbers
// (those are local to a node): a label set's number is the store's, the same on every node.
void forgetLabelNumbers(dataplane::IdentityStabilizer& ids);

// The allocator the model numbers identities with: label sets this node holds come from
// memory; new ones from the etcd allocator (an error while etcd is unreachable).
class CachingAllocator : public model::IdentityAllocator {
 public:
  model::Allocation allocate(const std::string& labels) override;
  void release(const std::string& labels) override;
  // A new session (the lease expired, or the agent started): references are taken again
  // under it; false with `error` set when etcd refused.
  bool rebind(kvstore::Session& session, const kvstore::Layout& layout,
              const kvstore::EtcdAllocatorConfig& cfg, std::string* error);
  void unbind();
  // Drops the label sets not in `used` (after a reconcile that applied).
  void keepOnly(const std::set<std::string>& used);
  std::map<std::string, model::IdentityId> held() const;
  kvstore::EtcdIdentityAllocator* inner() { return inner_.get(); }
  // One GC pass of the etcd allocator (0 while unbound). Under the allocator's lock, so a
  // rebind (new session) waits for it instead of pulling the session from under it.
  kvstore::Result<size_t> collectGarbage();

 private:
  mutable std::mutex mu_;
  std::unique_ptr<kvstore::EtcdIdentityAllocator> inner_;
  std::map<std::string, model::IdentityId> cache_;
};

class ClusterStore {
 public:
  // Builds the client (no request yet): etcd may come up after the agent.
  static kvstore::Result<std::unique_ptr<ClusterStore>> open(const AgentConfig& config,
                                                             std::function<void()> on_change);
  ~ClusterStore();

  // Connects what is not connected: the session (taking back the saved lease), the node
  // record, the mirrors. Error: the desired objects were never read (nothing to apply).
  kvstore::Status refresh();
  DesiredSnapshot desired() const;
  ClusterView view() const;
  // After a reconcile that applied `m`: publishes the endpoints' addresses and identities,
  // releases the label sets the model no longer uses.
  void applied(const DesiredModel& m, const std::map<std::string, EndpointRecord>& endpoints);
  // After a reconcile that applied: this node's endpoints (IP -> ipcache value) to publish and
  // the label sets the model uses (the others are released). Failures are retried by the
  // next call (pending() says one is due).
  void afterReconcile(const std::map<uint32_t, std::string>& local,
                      const std::set<std::string>& labels_used);
  bool pending() const;
  // Runs an identity GC pass when one is due (every kvstore.identityGCGrace/2, 1 s - 1 min)
  // and returns the milliseconds until the next one: the agent's loop calls it, so a quiet
  // cluster collects too. The allocator deletes an identity only after it has been seen
  // unreferenced for the grace period.
  int collectGarbageIfDue();
  nlohmann::json status() const;
  std::shared_ptr<CachingAllocator> allocator() const { return ids_; }

 private:
  explicit ClusterStore(const AgentConfig& config)
      : config_(config), layout_(config.kvstore.prefix) {}
  kvstore::Status ensureSession();
  kvstore::Status publish();
  void note(const kvstore::Error& e);
  void noteOk();

  AgentConfig config_;
  kvstore::Layout layout_;
  std::shared_ptr<kvstore::Client> client_;
  std::unique_ptr<kvstore::Session> session_;
  std::shared_ptr<CachingAllocator> ids_ = std::make_shared<CachingAllocator>();
  std::unique_ptr<PrefixMirror> objects_, nodes_, ipcache_;
  std::map<std::string, std::string> want_;       // ipcache key -> value this node owns
  std::map<std::string, std::string> published_;  // what was put under the current session
  bool node_published_ = false;
  bool reconciled_ = false;         // want_ holds this node's endpoints
  std::atomic<bool> dirty_{false};  // read by pending() from the loop thread
  std::atomic<bool> session_ok_{false};
  std::chrono::steady_clock::time_point last_gc_{};  // the loop thread's only
  mutable std::mutex mu_;                            // status fields below
  std::string last_error_;
  size_t identities_collected_ = 0, gc_passes_ = 0;
  bool reachable_ = false;
};

}  // namespace membrane::agent
