// SPDX-License-Identifier: Apache-2.0
#include "verify/universe.h"

#include <algorithm>

// podIdentityLabels is model's single definition of the identity label filter; reusing it
// keeps the encoding from drifting when the filter changes.
#include "model/identity.h"

namespace membrane::verify {

using model::LabelSelector;

void Universe::addKey(const std::string& key) { keys_.try_emplace(key); }

void Universe::addValue(const std::string& key, const std::string& value) {
  auto& vals = keys_[key];
  auto it = std::lower_bound(vals.begin(), vals.end(), value);
  if (it == vals.end() || *it != value) vals.insert(it, value);
}

void Universe::addSelector(const LabelSelector& sel) {
  for (const auto& r : sel.requirements) {
    if (r.source != model::kSourceK8s && r.source != model::kSourceAny) continue;
    addKey(r.key);
    for (const auto& v : r.values) addValue(r.key, v);
  }
}

void Universe::addRules(const model::Cluster& cluster) {
  for (const auto& r : cluster.policies.rules) {
    addSelector(r.subject);
    for (const auto& s : r.peers.selectors) addSelector(s);
    for (const auto& p : r.ports) {
      if (!p.name.empty()) addPortName(p.name);
    }
  }
  // Pods always carry these; their values tie pods to namespaces and the cluster.
  const std::string ns_key(model::kLabelPodNamespace);
  addKey(ns_key);
  for (const auto& n : cluster.namespaces) {
    if (n.declared) addValue(ns_key, n.name);
  }
  addValue(std::string(model::kLabelCluster), cluster.options.name);
  // Every namespace carries kubernetes.io/metadata.name = its name: when a selector names
  // that label, both keys share one set of values so the encoder can tie them together.
  const std::string meta_key = namespaceNameLabelKey();
  if (keys_.count(meta_key) != 0) {
    for (const auto& v : std::vector<std::string>(keys_[meta_key])) addValue(ns_key, v);
    for (const auto& v : std::vector<std::string>(keys_[ns_key])) addValue(meta_key, v);
  }
}

int64_t Universe::maxCode(const std::string& key) const {
  auto it = keys_.find(key);
  return it == keys_.end() ? kCodeOther : static_cast<int64_t>(it->second.size()) + 1;
}

int64_t Universe::code(const std::string& key, const std::string& value) const {
  auto it = keys_.find(key);
  if (it == keys_.end()) return kCodeOther;
  auto v = std::lower_bound(it->second.begin(), it->second.end(), value);
  if (v == it->second.end() || *v != value) return kCodeOther;
  return static_cast<int64_t>(v - it->second.begin()) + 2;
}

int64_t Universe::codeIn(const std::string& key, const model::Labels& labels) const {
  const model::Label* l = labels.find(model::kSourceK8s, key);
  return l == nullptr ? kCodeAbsent : code(key, l->value);
}

std::optional<std::string> Universe::value(const std::string& key, int64_t c) const {
  if (c == kCodeAbsent) return std::nullopt;
  auto it = keys_.find(key);
  if (c >= 2 && it != keys_.end() && c - 2 < static_cast<int64_t>(it->second.size())) {
    return it->second[static_cast<size_t>(c - 2)];
  }
  // "Some other value": the first of other, other-1, ... that no selector names.
  std::string v = "other";
  for (int i = 1; it != keys_.end() && std::binary_search(it->second.begin(), it->second.end(), v);
       ++i) {
    v = "other-" + std::to_string(i);
  }
  return v;
}

std::vector<EndpointClass> endpointClasses(const model::Cluster& cluster) {
  std::map<std::pair<model::IdentityId, std::vector<std::tuple<std::string, uint16_t, uint8_t>>>,
           size_t>
      index;
  std::vector<EndpointClass> out;
  for (size_t i = 0; i < cluster.pods.size(); ++i) {
    const auto& pod = cluster.pods[i];
    std::vector<std::tuple<std::string, uint16_t, uint8_t>> ports;
    for (const auto& cp : pod.ports) ports.emplace_back(cp.name, cp.port, cp.protocol);
    std::sort(ports.begin(), ports.end());
    auto [it, fresh] = index.try_emplace({pod.identity, ports}, out.size());
    if (fresh) out.push_back({.identity = pod.identity, .ports = pod.ports});
    out[it->second].pods.push_back(i);
  }
  return out;
}

bool identityRelevantKey(const model::Cluster& cluster, const std::string& key) {
  model::Pod probe;
  probe.labels[key] = "x";
  const model::Labels l = model::podIdentityLabels(cluster, probe);
  const model::Label* found = l.find(model::kSourceK8s, key);
  return found != nullptr && found->value == "x";
}

std::string namespaceNameLabelKey() {
  return std::string(model::kLabelNamespaceLabelsPrefix) + "kubernetes.io/metadata.name";
}

}  // namespace membrane::verify
