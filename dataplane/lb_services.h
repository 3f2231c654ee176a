// SPDX-License-Identifier: Apache-2.0
// The datapath's services from a model::Cluster, as kube-proxy (or Cilium's kube-proxy
// replacement) programs them for traffic from pods:
// - frontends: every TCP/UDP port of a Service at its ClusterIP (none when headless), at each
//   of its externalIPs and at each LoadBalancer status IP;
// - backends: the Service's endpoints (model::Service::backend_endpoints: EndpointSlices when
//   any exist for it, else the pods its selector matches) that serve the port (the target port
//   resolved per backend, 0 = not served): ready ones take new connections; terminating ones
//   that still serve keep their connections only; the rest are left out;
// - internalTrafficPolicy Local: only the endpoints on `node`;
// - sessionAffinity ClientIP with its timeout.
// NodePort (from outside the node) is not programmed: the datapath has no uplink program yet.
#pragma once

#include <string>

#include "dataplane/lb_writer.h"
#include "model/cluster.h"

namespace membrane::dataplane {

// `node`: the node the state is for (internalTrafficPolicy Local); `default_node`: where
// endpoints without a node run (reported in LbBackend::node).
ServiceState servicesFromCluster(const model::Cluster& cluster, const std::string& node,
                                 const std::string& default_node);

}  // namespace membrane::dataplane
