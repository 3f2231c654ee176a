// SPDX-License-Identifier: Apache-2.0
// Numeric identities for label sets, behind one interface: in memory (dry-runs, the sim's
// model and bpf backends; deterministic) and in etcd (kvstore/identity_allocator.h, agents;
// cluster-wide). The interface lives here because model depends on nothing of ours; the etcd
// implementation lives above it.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "model/identity_numbers.h"

namespace membrane::model {

struct Allocation {
  IdentityId id = kIdentityUnknown;
  std::string error;  // empty on success (e.g. "etcd unreachable: ...")
  bool ok() const { return error.empty(); }
};

class IdentityAllocator {
 public:
  virtual ~IdentityAllocator() = default;
  // The identity of `labels` (a canonical label set, Labels::str()), allocated when no one
  // has it yet; the caller holds a reference until release(). Numbers never change while
  // referenced: relabelling one pod never renumbers another label set.
  virtual Allocation allocate(const std::string& labels) = 0;
  // Drops the caller's reference; the number may be reclaimed after a grace period.
  virtual void release(const std::string& labels) = 0;
};

// Deterministic: the same sequence of allocate/release gives the same numbers. A released
// number is never handed to another label set (the sim compares runs by number).
class InMemoryIdentityAllocator : public IdentityAllocator {
 public:
  explicit InMemoryIdentityAllocator(uint32_t cluster_id = 0) : cluster_id_(cluster_id) {}
  Allocation allocate(const std::string& labels) override;
  void release(const std::string& labels) override;
  size_t references(const std::string& labels) const;

 private:
  uint32_t cluster_id_;
  IdentityId next_local_ = kMinimalAllocatedIdentity;
  struct Entry {
    IdentityId id = 0;
    size_t refs = 0;
  };
  std::map<std::string, Entry> by_labels_;
};

// The allocated identity with local number `local` in cluster `cluster_id` (bits 16-23).
inline constexpr IdentityId composeIdentity(uint32_t cluster_id, IdentityId local) {
  return (cluster_id << kClusterIdShift) | local;
}

}  // namespace membrane::model
