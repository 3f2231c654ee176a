// SPDX-License-Identifier: Apache-2.0
#include "model/identity_allocator.h"

namespace membrane::model {

Allocation InMemoryIdentityAllocator::allocate(const std::string& labels) {
  auto [it, fresh] = by_labels_.try_emplace(labels);
  if (fresh) {
    if (next_local_ > kMaxLocalIdPerCluster) {
      by_labels_.erase(it);
      return {.error = "identity space of cluster " + std::to_string(cluster_id_) + " exhausted"};
    }
    it->second.id = composeIdentity(cluster_id_, next_local_++);
  }
  ++it->second.refs;
  return {.id = it->second.id};
}

void InMemoryIdentityAllocator::release(const std::string& labels) {
  auto it = by_labels_.find(labels);
  // The entry stays (with its number) when unreferenced: numbers are never reused, so a
  // label set that comes back gets its old number.
  if (it != by_labels_.end() && it->second.refs > 0) --it->second.refs;
}

size_t InMemoryIdentityAllocator::references(const std::string& labels) const {
  auto it = by_labels_.find(labels);
  return it == by_labels_.end() ? 0 : it->second.refs;
}

}  // namespace membrane::model
