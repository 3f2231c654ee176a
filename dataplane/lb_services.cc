// SPDX-License-Identifier: Apache-2.0
#include "dataplane/lb_services.h"

#include <charconv>
#include <optional>

namespace membrane::dataplane {

namespace {

std::optional<uint16_t> numericPort(const std::string& s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v == 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

// The port of `pod` that `sp` targets; nullopt when a named target port is not one of the
// pod's container ports (Kubernetes leaves such a pod out of that port's endpoints).
std::optional<uint16_t> targetPort(const model::Pod& pod, const model::ServicePort& sp) {
  if (auto n = numericPort(sp.target_port)) return n;
  for (const model::ContainerPort& cp : pod.ports) {
    if (cp.name == sp.target_port && cp.protocol == sp.protocol) return cp.port;
  }
  return std::nullopt;
}

void addSliceBackends(const model::Cluster& cluster, const model::Service& svc,
                      const model::ServicePort& sp, LbServiceSpec& out) {
  for (const model::EndpointSlice& slice : cluster.endpoint_slices) {
    if (slice.namespace_ != svc.namespace_ || slice.service_name != svc.name) continue;
    for (const model::ServicePort& port : slice.ports) {
      if (port.name != sp.name || port.protocol != sp.protocol || port.port == 0) continue;
      for (model::Ipv4 ip : slice.addresses) {
        LbBackend b{.ip = ip, .port = port.port};
        if (auto pod = cluster.findPodByIp(ip)) b.node = cluster.pods[*pod].node_name;
        bool dup = false;
        for (const LbBackend& o : out.backends) dup = dup || (o.ip == ip && o.port == port.port);
        if (!dup) out.backends.push_back(b);
      }
    }
  }
}

}  // namespace

ServiceState servicesFromCluster(const model::Cluster& cluster, const std::string& default_node) {
  ServiceState out;
  for (const model::Service& svc : cluster.services) {
    if (!svc.cluster_ip || *svc.cluster_ip == 0) continue;  // headless: no VIP
    for (const model::ServicePort& sp : svc.ports) {
      if (sp.protocol != model::kProtoTCP && sp.protocol != model::kProtoUDP) continue;
      LbServiceSpec spec;
      if (!svc.selector) {
        addSliceBackends(cluster, svc, sp, spec);
      } else {
        for (size_t i : svc.backends) {
          const model::Pod& pod = cluster.pods[i];
          auto port = targetPort(pod, sp);
          if (!pod.ip || !port) continue;
          bool dup = false;
          for (const LbBackend& o : spec.backends)
            dup = dup || (o.ip == *pod.ip && o.port == *port);
          if (dup) continue;  // two pods claiming one address: the loader reports that
          spec.backends.push_back({.ip = *pod.ip,
                                   .port = *port,
                                   .node = pod.node_name.empty() ? default_node : pod.node_name});
        }
      }
      out[{.vip = *svc.cluster_ip, .port = sp.port, .proto = sp.protocol}] = std::move(spec);
    }
  }
  return out;
}

}  // namespace membrane::dataplane
