// SPDX-License-Identifier: Apache-2.0
// RapidCheck generators of small clusters with random policies, written as manifest YAML so
// that the whole path (parser, identities, engine) is exercised. Shared by the property
// tests of model/, verify/ and the datapath.
#pragma once

#include <rapidcheck.h>

#include <string>
#include <vector>

#include "model/engine.h"
#include "model/loader.h"

namespace membrane::testing {

// A random cluster: 2 namespaces, a few pods and nodes, and random KNP/CNP/CCNP policies.
struct GeneratedCluster {
  std::string yaml;
};

rc::Gen<GeneratedCluster> genCluster();

// A random flow over the loaded cluster: pods, node addresses and external addresses as
// endpoints, TCP/UDP/SCTP/ICMP with ports around the ones the policies use.
rc::Gen<model::Flow> genFlow(const model::Cluster& cluster);

// Loads a generated cluster; fails the property (RC_FAIL) with the errors if it does not load.
model::LoadResult loadGenerated(const GeneratedCluster& g);

}  // namespace membrane::testing
