// SPDX-License-Identifier: Apache-2.0
// The finite vocabulary the SMT encoding ranges over: every pod label key that a selector
// (of a rule or of an invariant) mentions, with the values mentioned for it, plus "absent"
// and "some other value". Selectors only look at the keys and values they name, so a pod's
// label set projected onto this vocabulary decides every selector exactly; a label value
// no selector names is indistinguishable from any other such value ("other").
//
// Existing endpoints are grouped into classes: pods with the same identity and the same
// container ports behave identically under every rule (ingress named ports resolve
// against the pod's own ports), so "every existing pod" is "every class".
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/cluster.h"

namespace membrane::verify {

// Label value codes: 0 = the key is absent, 1 = a value no selector names, 2.. = values.
inline constexpr int64_t kCodeAbsent = 0;
inline constexpr int64_t kCodeOther = 1;

class Universe {
 public:
  // Pod label keys (source k8s; "any:" requirements address the same keys on pods).
  void addKey(const std::string& key);
  void addValue(const std::string& key, const std::string& value);
  void addSelector(const model::LabelSelector& sel);
  void addPortName(const std::string& name) { port_names_.insert(name); }
  // Every key, value and port name the rules mention, the declared namespaces, the cluster.
  void addRules(const model::Cluster& cluster);

  const std::map<std::string, std::vector<std::string>>& keys() const { return keys_; }
  const std::set<std::string>& portNames() const { return port_names_; }
  int64_t maxCode(const std::string& key) const;
  // The code of `value` for `key`: its index + 2, or kCodeOther when no selector names it.
  int64_t code(const std::string& key, const std::string& value) const;
  // The code of the key in a label set (kCodeAbsent when the key is not there).
  int64_t codeIn(const std::string& key, const model::Labels& labels) const;
  // A value for a code; kCodeOther gets a value that no selector names.
  std::optional<std::string> value(const std::string& key, int64_t code) const;

 private:
  std::map<std::string, std::vector<std::string>> keys_;  // key -> sorted values
  std::set<std::string> port_names_;
};

// Pods with the same identity and container ports: one class.
struct EndpointClass {
  model::IdentityId identity = 0;
  std::vector<model::ContainerPort> ports;
  std::vector<size_t> pods;  // indices into Cluster::pods, first = representative
};

std::vector<EndpointClass> endpointClasses(const model::Cluster& cluster);

// Whether a pod label with this key becomes part of the pod's identity (Cilium's label
// filter). Keys that are not can never be matched by a selector on a pod.
bool identityRelevantKey(const model::Cluster& cluster, const std::string& key);

// The pod label key under which a pod carries its namespace's kubernetes.io/metadata.name.
std::string namespaceNameLabelKey();

}  // namespace membrane::verify
