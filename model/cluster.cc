// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <set>

#include "model/loader_internal.h"

namespace membrane::model {

const Namespace* Cluster::findNamespace(const std::string& name) const {
  for (const auto& n : namespaces) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

const NodeInfo* Cluster::findNode(const std::string& name) const {
  for (const auto& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

std::optional<size_t> Cluster::findPod(const std::string& ns, const std::string& name) const {
  for (size_t i = 0; i < pods.size(); ++i) {
    if (pods[i].namespace_ == ns && pods[i].name == name) return i;
  }
  return std::nullopt;
}

std::optional<size_t> Cluster::findPodByIp(Ipv4 ip) const {
  for (size_t i = 0; i < pods.size(); ++i) {
    if (pods[i].ip && *pods[i].ip == ip) return i;
  }
  return std::nullopt;
}

const Identity* Cluster::identity(IdentityId id) const {
  auto it = identities.find(id);
  return it == identities.end() ? nullptr : &it->second;
}

void Builder::expandWorkloads() {
  std::set<Ipv4> used;
  for (const auto& p : cluster.pods) {
    if (p.ip) used.insert(*p.ip);
  }
  for (const auto& n : cluster.nodes) {
    if (n.internal_ip) used.insert(*n.internal_ip);
  }
  // Deterministic synthetic addresses: from the node's pod CIDR, else from 10.128.0.0/9.
  std::map<std::string, Ipv4> next_in_node;
  Ipv4 next_default = (10u << 24) | (128u << 16) | 2u;
  auto allocate = [&](const std::string& node) -> std::optional<Ipv4> {
    const NodeInfo* n = node.empty() ? nullptr : cluster.findNode(node);
    if (n && n->pod_cidr && !n->pod_cidr->ipv6) {
      auto [it, fresh] = next_in_node.try_emplace(node, n->pod_cidr->addr + 2);
      while (it->second <= n->pod_cidr->last() && used.count(it->second)) ++it->second;
      if (it->second < n->pod_cidr->last()) {
        used.insert(it->second);
        return it->second++;
      }
    }
    while (used.count(next_default)) ++next_default;
    used.insert(next_default);
    return next_default++;
  };
  size_t rr = 0;
  for (size_t wi : expand_workloads_) {
    const Workload w = cluster.workloads[wi];
    int count = w.replicas;
    std::vector<std::string> daemon_nodes;
    if (count < 0) {
      for (const auto& n : cluster.nodes) daemon_nodes.push_back(n.name);
      if (daemon_nodes.empty()) daemon_nodes.push_back("");
      count = static_cast<int>(daemon_nodes.size());
      cluster.workloads[wi].replicas = count;
    }
    for (int i = 0; i < count; ++i) {
      Pod p{.namespace_ = w.namespace_,
            .name = w.name + "-" + std::to_string(i),
            .labels = w.labels,
            .service_account = w.service_account,
            .ports = w.ports,
            .workload = wi,
            .loc = w.loc};
      if (!daemon_nodes.empty()) {
        p.node_name = daemon_nodes[i];
      } else if (!w.node_name.empty()) {
        p.node_name = w.node_name;
      } else if (!cluster.nodes.empty()) {
        p.node_name = cluster.nodes[rr++ % cluster.nodes.size()].name;
      }
      p.ip = allocate(p.node_name);
      cluster.pods.push_back(std::move(p));
    }
  }
  // Bare pods without an address get one as well, so that every endpoint is addressable.
  for (auto& p : cluster.pods) {
    if (!p.ip) p.ip = allocate(p.node_name);
  }
}

void Builder::finish() {
  // Namespaces referenced but not declared exist implicitly (with the name label only).
  auto ensure_ns = [&](const std::string& name) {
    if (name.empty() || cluster.findNamespace(name)) return;
    cluster.namespaces.push_back(Namespace{
        .name = name, .labels = {{"kubernetes.io/metadata.name", name}}, .declared = false});
  };
  for (const auto& p : cluster.pods) ensure_ns(p.namespace_);
  for (const auto& w : cluster.workloads) ensure_ns(w.namespace_);
  for (const auto& o : policy_objects) {
    if (o.kind != "CiliumClusterwideNetworkPolicy") ensure_ns(o.ns.empty() ? "default" : o.ns);
  }
  std::sort(cluster.namespaces.begin(), cluster.namespaces.end(),
            [](const Namespace& a, const Namespace& b) { return a.name < b.name; });
  expandWorkloads();
  linkServices();
  for (const auto& o : policy_objects) {
    parsePolicyObject(o, cluster, cluster.policies, diags);
  }
  if (std::string err = allocateIdentities(cluster); !err.empty()) {
    diags.error({.message = "identity allocation failed: " + err});
  }
}

}  // namespace membrane::model
