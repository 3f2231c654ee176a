// SPDX-License-Identifier: Apache-2.0
// The datapath's services from a model::Cluster: every ClusterIP service port (TCP/UDP) is a
// frontend; its backends are the selected pods with an address (target port a number, or a
// container port name resolved per pod) or, for a service without selector, the addresses of
// its EndpointSlices (port by the slice port's name). Uses only the model fields that exist
// today; type, nodePort, external IPs, affinity, traffic policies and slice conditions are to
// be added when the model carries them.
#pragma once

#include <string>

#include "dataplane/lb_writer.h"
#include "model/cluster.h"

namespace membrane::dataplane {

// `default_node`: where pods without spec.nodeName run (reported in LbBackend::node).
ServiceState servicesFromCluster(const model::Cluster& cluster, const std::string& default_node);

}  // namespace membrane::dataplane
