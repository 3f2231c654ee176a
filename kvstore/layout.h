// SPDX-License-Identifier: Apache-2.0
// The key layout of membrane's cluster state in etcd (docs/kvstore.md), under one prefix:
//
//   <prefix>objects/<Kind>/<namespace>/<name>   desired object (YAML)          no lease
//   <prefix>objects/<Kind>/<name>               cluster-scoped desired object  no lease
//   <prefix>identities/id/<id>                  canonical label set of an id   no lease
//   <prefix>identities/labels/<labels>          id of a canonical label set    no lease
//   <prefix>identities/refs/<id>/<node>         a node uses the id             node's lease
//   <prefix>nodes/<name>                        node (JSON: IP, pod CIDR)      node's lease
//   <prefix>ipcache/<ip>                        endpoint IP -> identity (JSON) node's lease
//
// Only this file spells keys; everything else asks it.
#pragma once

#include <cstdint>
#include <string>

namespace membrane::kvstore {

class Layout {
 public:
  explicit Layout(std::string prefix = "membrane/");
  const std::string& prefix() const { return prefix_; }

  // `identity` is model::objectIdentity(): "Kind/ns/name" or "Kind/name".
  std::string object(const std::string& identity) const { return prefix_ + "objects/" + identity; }
  std::string objects() const { return prefix_ + "objects/"; }
  std::string objectsOfKind(const std::string& kind) const { return objects() + kind + "/"; }
  // "Kind/ns/name" of an object key, empty when `key` is not an object key.
  std::string objectIdentityOf(const std::string& key) const;

  std::string identityById(uint32_t id) const;
  std::string identityByLabels(const std::string& canonical_labels) const;
  std::string identityRefs(uint32_t id) const;  // prefix of every node's reference
  std::string identityRef(uint32_t id, const std::string& node) const;
  std::string identitiesById() const { return prefix_ + "identities/id/"; }
  std::string identityRefsAll() const { return prefix_ + "identities/refs/"; }

  std::string node(const std::string& name) const { return prefix_ + "nodes/" + name; }
  std::string ipcache(const std::string& ip) const { return prefix_ + "ipcache/" + ip; }

 private:
  std::string prefix_;
};

}  // namespace membrane::kvstore
