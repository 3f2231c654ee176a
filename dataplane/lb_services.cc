// SPDX-License-Identifier: Apache-2.0
#include "dataplane/lb_services.h"

namespace membrane::dataplane {

namespace {

// The datapath backends of service port `index` of `svc`.
LbServiceSpec serviceSpec(const model::Service& svc, size_t index, const std::string& node,
                          const std::string& default_node) {
  LbServiceSpec spec;
  if (svc.affinity_client_ip) spec.affinity_timeout_s = svc.affinity_timeout_s;
  for (const model::ServiceBackend& b : svc.backend_endpoints) {
    const uint16_t port = svc.targetPort(b, index);
    if (port == 0) continue;  // this backend does not serve the port
    const std::string& on = b.node_name.empty() ? default_node : b.node_name;
    if (svc.internal_traffic_policy == model::TrafficPolicy::Local && on != node) continue;
    LbBackend lb{.ip = b.ip, .port = port, .node = on};
    if (b.ready) {
      lb.state = LbBackendState::Active;
    } else if (b.terminating && b.serving) {
      lb.state = LbBackendState::Terminating;  // existing connections only
    } else {
      continue;
    }
    bool dup = false;
    for (const LbBackend& o : spec.backends) dup = dup || (o.ip == lb.ip && o.port == lb.port);
    if (!dup) spec.backends.push_back(lb);  // two endpoints with one address: loader's business
  }
  return spec;
}

}  // namespace

ServiceState servicesFromCluster(const model::Cluster& cluster, const std::string& node,
                                 const std::string& default_node) {
  ServiceState out;
  for (const model::Service& svc : cluster.services) {
    std::vector<model::Ipv4> vips;
    if (!svc.headless && svc.cluster_ip && *svc.cluster_ip != 0) vips.push_back(*svc.cluster_ip);
    vips.insert(vips.end(), svc.external_ips.begin(), svc.external_ips.end());
    vips.insert(vips.end(), svc.load_balancer_ips.begin(), svc.load_balancer_ips.end());
    for (size_t i = 0; i < svc.ports.size(); ++i) {
      const model::ServicePort& sp = svc.ports[i];
      if (sp.protocol != model::kProtoTCP && sp.protocol != model::kProtoUDP) continue;
      const LbServiceSpec spec = serviceSpec(svc, i, node, default_node);
      for (model::Ipv4 vip : vips) out[{.vip = vip, .port = sp.port, .proto = sp.protocol}] = spec;
    }
  }
  return out;
}

}  // namespace membrane::dataplane
