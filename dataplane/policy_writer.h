// SPDX-License-Identifier: Apache-2.0
// Writes model::MapState into the per-endpoint policy maps.
//
// Each endpoint has two inner LPM tries, the active one (referenced by the outer
// membrane_policy slot, read by packets) and a standby one. apply() brings the standby to
// the desired state (a difference against what the standby held), then swaps the outer slot
// in one syscall. Packets therefore see the old policy or the new one, never a mix: the
// two-lookup LPM with precedence has intermediate states that no per-entry order avoids
// (docs/datapath.md). Before a replaced trie is modified again, quiesce() waits for an RCU
// grace period so no packet still running on another CPU reads it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "dataplane/abi.h"
#include "dataplane/map.h"
#include "dataplane/result.h"
#include "model/mapstate.h"

namespace membrane::dataplane {

// Encoding of one logical entry into the kernel ABI (and back). Errors name the entry.
Result<PolicyKey> encodePolicyKey(const model::MapKey& key);
Result<PolicyEntry> encodePolicyEntry(const model::MapValue& value, uint8_t prefix_len);
model::MapKey decodePolicyKey(const PolicyKey& key);
model::MapValue decodePolicyEntry(const PolicyEntry& entry);

// The per-endpoint map seam: where inner maps come from and how they are installed.
class PolicyMapStore {
 public:
  virtual ~PolicyMapStore() = default;
  virtual Result<std::shared_ptr<RawMap>> createInner() = 0;
  // Atomically points endpoint `endpoint_id`'s slot at `inner`.
  virtual Status install(uint32_t endpoint_id, const std::shared_ptr<RawMap>& inner) = 0;
  virtual Status uninstall(uint32_t endpoint_id) = 0;
  // What packets of the endpoint use now; nullptr when the slot is empty.
  virtual Result<std::shared_ptr<RawMap>> installed(uint32_t endpoint_id) = 0;
  // Returns once no packet can still be using a map that was replaced before the call.
  virtual Status quiesce() = 0;
};

// Increments membrane_revision (bpf/include/conntrack.h) after a change that can change a
// verdict, so established flows decided before it are decided again on their next packet.
// Serialised within the process: two racing read-increment-writes could otherwise write an
// older value back.
Status bumpRevision(int revision_fd);

// The kernel's ARRAY_OF_MAPS (outer fd borrowed from the Datapath). After every swap it bumps
// the endpoint's generation in membrane_policy_gen (gen_fd, -1 = none), which retires the
// datapath's cached decisions for that endpoint, then membrane_revision (revision_fd, -1 =
// none), which sends established flows back through the policy.
class KernelPolicyMapStore final : public PolicyMapStore {
 public:
  KernelPolicyMapStore(int outer_fd, int gen_fd, MapSpec inner_spec, int revision_fd = -1);
  Result<std::shared_ptr<RawMap>> createInner() override;
  Status install(uint32_t endpoint_id, const std::shared_ptr<RawMap>& inner) override;
  Status uninstall(uint32_t endpoint_id) override;
  Result<std::shared_ptr<RawMap>> installed(uint32_t endpoint_id) override;
  Status quiesce() override;

 private:
  Status bumpGeneration(uint32_t endpoint_id);  // generation, then revision
  Status bumpGenerationOnly(uint32_t endpoint_id);

  int outer_fd_;
  int gen_fd_;
  MapSpec inner_spec_;
  int revision_fd_;
};

// In-memory store. The observer runs after every inner-map mutation and every install, i.e.
// at every state a packet could observe.
class FakePolicyMapStore final : public PolicyMapStore {
 public:
  explicit FakePolicyMapStore(uint32_t inner_max_entries = MEMBRANE_POLICY_MAP_SIZE);
  Result<std::shared_ptr<RawMap>> createInner() override;
  Status install(uint32_t endpoint_id, const std::shared_ptr<RawMap>& inner) override;
  Status uninstall(uint32_t endpoint_id) override;
  Result<std::shared_ptr<RawMap>> installed(uint32_t endpoint_id) override;
  Status quiesce() override;

  void setObserver(std::function<void()> observer) { observer_ = std::move(observer); }
  size_t quiesceCalls() const { return quiesce_calls_; }
  size_t innerMapsCreated() const { return created_; }

 private:
  void notify() const;

  uint32_t inner_max_entries_;
  std::map<uint32_t, std::shared_ptr<RawMap>> slots_;
  std::function<void()> observer_;
  size_t quiesce_calls_ = 0;
  size_t created_ = 0;
};

// What apply() changed, in logical terms, relative to the previously active policy.
struct PolicyChange {
  std::vector<model::MapKey> added;
  std::vector<model::MapKey> removed;
  std::vector<model::MapKey> changed;  // same key, new value
  bool swapped = false;                // a new trie was installed
  bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
  size_t size() const { return added.size() + removed.size() + changed.size(); }
};

class PolicyWriter {
 public:
  explicit PolicyWriter(PolicyMapStore& store) : store_(&store) {}

  // Makes `desired` the endpoint's policy. Validates every entry before touching a map;
  // on error the active policy is unchanged.
  Result<PolicyChange> apply(uint32_t endpoint_id, const model::MapState& desired);
  // Empties the endpoint's slot (packets then drop with MEMBRANE_DROP_NO_CONFIG).
  Status remove(uint32_t endpoint_id);
  // Decodes what the datapath holds for the endpoint (the installed trie).
  Result<model::MapState> readBack(uint32_t endpoint_id);

 private:
  using Entries = std::map<model::MapKey, model::MapValue>;
  struct Slot {
    std::shared_ptr<RawMap> active;
    std::shared_ptr<RawMap> standby;
    Entries active_entries;
    Entries standby_entries;
    bool standby_was_active = false;  // may still be read by in-flight packets
    bool loaded = false;
  };
  Result<Slot*> slot(uint32_t endpoint_id);

  PolicyMapStore* store_;
  std::map<uint32_t, Slot> slots_;
};

// Reads all entries of one inner trie.
Result<std::map<model::MapKey, model::MapValue>> readPolicyMap(const RawMap& inner);

// The BPF lookup (bpf/lib/policy.h) evaluated in C++ over an inner map's contents. Used to
// check intermediate states of the fake store; O(entries).
model::MapLookup lookupPolicyMap(const RawMap& inner, model::IdentityId peer, model::Direction dir,
                                 uint8_t proto, uint16_t port);

}  // namespace membrane::dataplane
