// SPDX-License-Identifier: Apache-2.0
#include "kvstore/layout.h"

namespace membrane::kvstore {

Layout::Layout(std::string prefix) : prefix_(std::move(prefix)) {
  // "membrane" and "membrane/" mean the same tree; keys never start at the root of etcd.
  if (!prefix_.empty() && prefix_.back() != '/') prefix_ += '/';
}

std::string Layout::objectIdentityOf(const std::string& key) const {
  const std::string p = objects();
  return key.starts_with(p) ? key.substr(p.size()) : std::string();
}

std::string Layout::identityById(uint32_t id) const {
  return identitiesById() + std::to_string(id);
}

std::string Layout::identityByLabels(const std::string& canonical_labels) const {
  return prefix_ + "identities/labels/" + canonical_labels;
}

std::string Layout::identityRefs(uint32_t id) const {
  return identityRefsAll() + std::to_string(id) + "/";
}

std::string Layout::identityRef(uint32_t id, const std::string& node) const {
  return identityRefs(id) + node;
}

}  // namespace membrane::kvstore
