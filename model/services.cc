// SPDX-License-Identifier: Apache-2.0
// Services after loading: their backends (from EndpointSlices or the selector), the backends'
// ports after DNAT, and the nodePorts the API server would have allocated.
#include <algorithm>
#include <set>

#include "model/loader_internal.h"

namespace membrane::model {

const Service* Cluster::findService(const std::string& ns, const std::string& name) const {
  for (const auto& s : services) {
    if (s.namespace_ == ns && s.name == name) return &s;
  }
  return nullptr;
}

const Service* Cluster::findServiceByIp(Ipv4 ip) const {
  for (const auto& s : services) {
    if (s.cluster_ip == ip) return &s;
    if (std::count(s.external_ips.begin(), s.external_ips.end(), ip)) return &s;
    if (std::count(s.load_balancer_ips.begin(), s.load_balancer_ips.end(), ip)) return &s;
  }
  return nullptr;
}

uint16_t Service::targetPort(const ServiceBackend& b, size_t port_index) const {
  return port_index < b.target_ports.size() ? b.target_ports[port_index] : 0;
}

namespace {

// A targetPort on a selected pod, as the EndpointSlice controller resolves it: a number is
// itself; a name is the pod's container port of that name and protocol, else none (0).
uint16_t resolveOnPod(const ServicePort& sp, const Pod& pod) {
  const std::string& t = sp.target_port;
  if (!t.empty() && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return static_cast<uint16_t>(std::stoul(t));
  for (const auto& cp : pod.ports) {
    if (cp.name == t && cp.protocol == sp.protocol) return cp.port;
  }
  return 0;
}

// A Service port on a slice endpoint: the slice port with the same name and protocol.
uint16_t resolveOnSlice(const ServicePort& sp, const EndpointSlice& e) {
  for (const auto& p : e.ports) {
    if (p.name == sp.name && p.protocol == sp.protocol) return p.port;
  }
  return 0;
}

void backendsFromSlices(const Cluster& cluster, Service& s) {
  for (const auto& e : cluster.endpoint_slices) {
    if (e.namespace_ != s.namespace_ || e.service_name != s.name) continue;
    s.from_slices = true;
    for (const auto& ep : e.endpoints) {
      for (Ipv4 a : ep.addresses) {
        ServiceBackend b{.ip = a,
                         .pod = cluster.findPodByIp(a),
                         .node_name = ep.node_name,
                         .ready = ep.ready,
                         .serving = ep.serving,
                         .terminating = ep.terminating,
                         .slice = e.name};
        if (b.node_name.empty() && b.pod) b.node_name = cluster.pods[*b.pod].node_name;
        for (const auto& sp : s.ports) b.target_ports.push_back(resolveOnSlice(sp, e));
        if (b.ready && b.pod) s.backends.push_back(*b.pod);
        s.backend_endpoints.push_back(std::move(b));
      }
    }
  }
}

void backendsFromSelector(const Cluster& cluster, Service& s) {
  for (size_t i = 0; i < cluster.pods.size(); ++i) {
    const Pod& p = cluster.pods[i];
    if (p.namespace_ != s.namespace_ || !p.ip) continue;
    bool all = std::all_of(s.selector->begin(), s.selector->end(), [&](const auto& kv) {
      auto it = p.labels.find(kv.first);
      return it != p.labels.end() && it->second == kv.second;
    });
    if (!all) continue;
    ServiceBackend b{.ip = *p.ip, .pod = i, .node_name = p.node_name};
    for (const auto& sp : s.ports) b.target_ports.push_back(resolveOnPod(sp, p));
    s.backends.push_back(i);
    s.backend_endpoints.push_back(std::move(b));
  }
}

}  // namespace

void Builder::allocateNodePorts() {
  // (port, protocol) pairs are what a node listens on: two Services cannot share one.
  std::map<std::pair<uint16_t, uint8_t>, std::string> used;
  for (const auto& s : cluster.services) {
    for (size_t i = 0; i < s.ports.size(); ++i) {
      const ServicePort& sp = s.ports[i];
      if (sp.node_port == 0) continue;
      auto [it, fresh] = used.try_emplace({sp.node_port, sp.protocol}, s.ref());
      if (!fresh) {
        diags.error({.loc = s.loc,
                     .object = "Service " + s.ref(),
                     .field = indexPath("spec", "ports", i) + ".nodePort",
                     .message = "nodePort " + std::to_string(sp.node_port) +
                                " is already allocated to Service " + it->second});
      }
    }
  }
  uint32_t next = cluster.options.node_port_min;
  for (auto& s : cluster.services) {
    if (s.type == ServiceType::ClusterIP || !s.allocate_node_ports) continue;
    for (auto& sp : s.ports) {
      if (sp.node_port != 0) continue;
      while (next <= cluster.options.node_port_max && used.count({uint16_t(next), sp.protocol}))
        ++next;
      if (next > cluster.options.node_port_max) {
        diags.error({.loc = s.loc,
                     .object = "Service " + s.ref(),
                     .field = "spec.ports",
                     .message = "the node port range is exhausted"});
        return;
      }
      sp.node_port = static_cast<uint16_t>(next);
      used.emplace(std::pair{sp.node_port, sp.protocol}, s.ref());
    }
  }
}

void Builder::linkServices() {
  for (auto& s : cluster.services) {
    // EndpointSlices are what kube-proxy and Cilium read: when any exist for the Service they
    // are the truth (readiness, terminating endpoints, addresses outside the cluster); a Service
    // without slices (manifests never applied) falls back to its selector.
    backendsFromSlices(cluster, s);
    if (!s.from_slices && s.selector) backendsFromSelector(cluster, s);
    std::sort(s.backends.begin(), s.backends.end());
    s.backends.erase(std::unique(s.backends.begin(), s.backends.end()), s.backends.end());
  }
  allocateNodePorts();
}

}  // namespace membrane::model
