// SPDX-License-Identifier: Apache-2.0
// The cluster-wide identity allocator in etcd (Cilium's kvstore allocator, on clientv3-style
// building blocks). Keys (kvstore/layout.h):
//   identities/labels/<labels> -> id       created together with identities/id/<id> -> labels
//   identities/refs/<id>/<node>            one per node using the id, bound to its lease
// A new label set takes the smallest free local number in one create-if-absent transaction on
// both keys, so concurrent allocators agree on one number per label set and never give one
// number to two label sets. Taking a reference rewrites the labels key in the same txn, which
// is what makes garbage collection safe (see collectGarbage).
#pragma once

#include <chrono>
#include <map>
#include <mutex>

#include "kvstore/layout.h"
#include "kvstore/session.h"
#include "model/identity_allocator.h"

namespace membrane::kvstore {

struct EtcdAllocatorConfig {
  std::string node;         // the reference's name: one per node
  uint32_t cluster_id = 0;  // bits 16-23 of every number
  // An identity nobody references is deleted only after it has been seen unreferenced for
  // this long (a restarting agent takes its references back within it).
  std::chrono::milliseconds gc_grace{std::chrono::minutes(5)};
};

class EtcdIdentityAllocator : public model::IdentityAllocator {
 public:
  // References are bound to `session`'s lease: they vanish when the node's lease expires.
  EtcdIdentityAllocator(Session& session, Layout layout, EtcdAllocatorConfig config)
      : session_(session), layout_(std::move(layout)), cfg_(std::move(config)) {}

  model::Allocation allocate(const std::string& labels) override;
  void release(const std::string& labels) override;
  // One GC pass: notes unreferenced identities and deletes those unreferenced for longer
  // than the grace period (deletion compares the labels key's revision, so an identity that
  // got a reference meanwhile survives). Returns the number deleted.
  Result<size_t> collectGarbage();

 private:
  Result<std::optional<model::IdentityId>> reference(const std::string& labels);
  Result<std::optional<model::IdentityId>> create(const std::string& labels);

  Session& session_;
  Layout layout_;
  EtcdAllocatorConfig cfg_;
  std::mutex mu_;
  std::map<model::IdentityId, std::chrono::steady_clock::time_point> unreferenced_since_;
};

}  // namespace membrane::kvstore
