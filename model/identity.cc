// SPDX-License-Identifier: Apache-2.0
// Security identities: reserved ones, one per distinct identity-relevant label set of pods,
// and node-local CIDR identities for every prefix that a policy names.
#include <algorithm>
#include <set>

#include "model/identity_allocator.h"
#include "model/loader_internal.h"

namespace membrane::model {
namespace {

// Cilium's default label filter (pkg/labelsfilter): these keys are not identity-relevant.
bool identityRelevant(std::string_view key) {
  if (key.starts_with("app.kubernetes.io")) return true;
  constexpr std::string_view kExcludedPrefixes[] = {"io.kubernetes",
                                                    "kubernetes.io",
                                                    "beta.kubernetes.io",
                                                    "k8s.io",
                                                    "pod-template-hash",
                                                    "controller-revision-hash",
                                                    "pod-template-generation",
                                                    "controller-uid",
                                                    "annotation.",
                                                    "etcd_node",
                                                    "topology.kubernetes.io",
                                                    "statefulset.kubernetes.io/pod-name",
                                                    "apps.kubernetes.io/pod-index",
                                                    "batch.kubernetes.io/",
                                                    "io.cilium.k8s."};
  for (auto p : kExcludedPrefixes) {
    if (key.starts_with(p)) return false;
  }
  return true;
}

void collectCidrs(const PeerSet& peers, std::set<std::pair<Ipv4, uint8_t>>& out) {
  for (const auto& c : peers.cidrs) {
    if (!c.cidr.ipv6 && c.cidr.len > 0) out.insert({c.cidr.addr, c.cidr.len});
    for (const auto& x : c.except) {
      if (!x.ipv6 && x.len > 0) out.insert({x.addr, x.len});
    }
  }
}

}  // namespace

Labels podIdentityLabels(const Cluster& cluster, const Pod& pod) {
  Labels l;
  const std::string k8s(kSourceK8s);
  for (const auto& [k, v] : pod.labels) {
    if (identityRelevant(k)) l.add(k8s, k, v);
  }
  l.add(k8s, std::string(kLabelPodNamespace), pod.namespace_);
  if (const Namespace* ns = cluster.findNamespace(pod.namespace_)) {
    for (const auto& [k, v] : ns->labels) {
      l.add(k8s, std::string(kLabelNamespaceLabelsPrefix) + k, v);
    }
  }
  l.add(k8s, std::string(kLabelServiceAccount), pod.service_account);
  l.add(k8s, std::string(kLabelCluster), cluster.options.name);
  return l;
}

std::string allocateIdentities(Cluster& cluster) {
  cluster.identities.clear();
  for (IdentityId id = 1; id <= kIdentityWorldIpv6; ++id) {
    Identity ident{.id = id, .kind = IdentityKind::Reserved};
    ident.labels.add(std::string(kSourceReserved), std::string(reservedIdentityName(id)), "");
    if (id == kIdentityWorld) ident.cidr = parseCidr("0.0.0.0/0", nullptr);
    cluster.identities.emplace(id, std::move(ident));
  }
  // Pods: identities in the sorted order of their label sets, so allocation depends only on
  // the set of label sets, not on file order.
  std::vector<Labels> pod_labels;
  pod_labels.reserve(cluster.pods.size());
  for (size_t i = 0; i < cluster.pods.size(); ++i) {
    const Pod& p = cluster.pods[i];
    // Replicas of one workload are contiguous and identical in what identities depend on.
    if (i > 0) {
      const Pod& prev = cluster.pods[i - 1];
      if (prev.workload == p.workload && prev.namespace_ == p.namespace_ &&
          prev.service_account == p.service_account && prev.labels == p.labels) {
        pod_labels.push_back(pod_labels.back());
        continue;
      }
    }
    pod_labels.push_back(podIdentityLabels(cluster, p));
  }
  std::vector<const Labels*> distinct;
  distinct.reserve(pod_labels.size());
  for (const auto& l : pod_labels) distinct.push_back(&l);
  std::sort(distinct.begin(), distinct.end(),
            [](const Labels* a, const Labels* b) { return *a < *b; });
  distinct.erase(std::unique(distinct.begin(), distinct.end(),
                             [](const Labels* a, const Labels* b) { return *a == *b; }),
                 distinct.end());
  const IdentityId base = (cluster.options.id << kClusterIdShift) + kMinimalAllocatedIdentity;
  std::vector<IdentityId> ids(distinct.size());
  for (size_t i = 0; i < distinct.size(); ++i) {
    ids[i] = base + static_cast<IdentityId>(i);
    if (!cluster.options.identities) continue;
    // Asked in sorted order, so a fresh allocator reproduces the numbers above.
    const Allocation a = cluster.options.identities->allocate(distinct[i]->str());
    if (!a.ok()) return a.error;
    if (clusterIdOf(a.id) != cluster.options.id) {
      return "allocator gave " + std::to_string(a.id) + " (cluster id " +
             std::to_string(clusterIdOf(a.id)) + ") in cluster " +
             std::to_string(cluster.options.id);
    }
    ids[i] = a.id;
  }
  for (size_t i = 0; i < distinct.size(); ++i) {
    const IdentityId id = ids[i];
    cluster.identities.emplace(
        id, Identity{.id = id, .kind = IdentityKind::Cluster, .labels = *distinct[i]});
  }
  for (size_t i = 0; i < cluster.pods.size(); ++i) {
    auto it = std::lower_bound(distinct.begin(), distinct.end(), &pod_labels[i],
                               [](const Labels* a, const Labels* b) { return *a < *b; });
    Pod& p = cluster.pods[i];
    p.identity = ids[it - distinct.begin()];
    Identity& ident = cluster.identities[p.identity];
    ident.endpoint_count++;
    for (const auto& cp : p.ports) {
      if (cp.name.empty()) continue;
      bool dup = false;
      auto range = ident.named_ports.equal_range(cp.name);
      for (auto r = range.first; r != range.second; ++r) {
        dup |= r->second.port == cp.port && r->second.protocol == cp.protocol;
      }
      if (!dup) ident.named_ports.emplace(cp.name, cp);
    }
  }
  // CIDR identities for every prefix named by a policy (peers and excepts).
  std::set<std::pair<Ipv4, uint8_t>> prefixes;
  for (const auto& r : cluster.policies.rules) collectCidrs(r.peers, prefixes);
  IdentityId next = kLocalIdentityScope + 1;
  for (const auto& [addr, len] : prefixes) {
    Cidr c{.addr = addr, .len = len};
    c.text = c.str();
    Identity ident{.id = next, .kind = IdentityKind::Cidr, .cidr = c};
    ident.labels.add(std::string(kSourceCidr), c.str(), "");
    ident.labels.add(std::string(kSourceReserved), "world", "");
    cluster.identities.emplace(next, std::move(ident));
    ++next;
  }
  return "";
}

}  // namespace membrane::model
