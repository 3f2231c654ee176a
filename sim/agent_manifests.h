// SPDX-License-Identifier: Apache-2.0
// What the node agents of a netns run read at one step: their watched directory's files.
// The simulator is the cluster's "API server" here: every agent gets the same files, so all
// of them see one cluster (one identity numbering, one placement of pods).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "model/cluster.h"
#include "model/manifest_set.h"
#include "sim/scenario.h"

namespace membrane::sim {

// The step's documents (caseDocs) as files for the agents (name -> YAML):
//   objects.yaml  every document that is not a Pod, a workload or a Node, as written
//   nodes.yaml    one Node per topology node: the case's Node object (labels kept) with
//                 status.addresses InternalIP and spec.podCIDR of the topology
//   pods.yaml     one Pod per pod of the step's cluster, workloads expanded: labels after
//                 relabels, spec.nodeName from the topology, status.podIP, container ports,
//                 service account, the owning workload as ownerReferences
// So an agent's model of the step is the simulator's: same pods, addresses and nodes.
std::map<std::string, std::string> agentManifests(const std::vector<model::ManifestDoc>& docs,
                                                  const model::Cluster& cluster,
                                                  const Topology& topo);

}  // namespace membrane::sim
