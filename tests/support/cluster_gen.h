// SPDX-License-Identifier: Apache-2.0
// RapidCheck generators of small clusters with random policies, written as manifest YAML so
// that the whole path (parser, identities, engine) is exercised. Shared by the property
// tests of model/, verify/ and the datapath.
//
// The policies cover: selectors with one to three requirements (matchLabels and every
// matchExpressions operator: In, NotIn, Exists, DoesNotExist), namespace selection (KNP
// namespaceSelector, CNP io.kubernetes.pod.namespace and namespace-label requirements),
// CIDRs with `except` (toCIDR, toCIDRSet, ipBlock), port ranges with endPort, named ports,
// ICMP types, deny sections (ingressDeny / egressDeny), entities (world, cluster, host,
// remote-node, all) and L7 rules (http, dns, kafka). Flows probe every port boundary the
// policies use (start-1, start, end, end+1) and addresses on both sides of every CIDR edge.
#pragma once

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <cstdlib>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "model/engine.h"
#include "model/loader.h"

namespace membrane::testing {

// A random cluster: 3 namespaces, 2 nodes, a few pods and random KNP/CNP/CCNP policies.
struct GeneratedCluster {
  std::string yaml;
};
// RapidCheck prints a failing case's cluster through this: a manifest file a unit test (or
// `membrane explain`) can load as it is.
void showValue(const GeneratedCluster& g, std::ostream& os);

rc::Gen<GeneratedCluster> genCluster();

// A random flow over the loaded cluster: pods, node addresses and external addresses as
// endpoints, TCP/UDP/SCTP/ICMP with ports from probePorts().
rc::Gen<model::Flow> genFlow(const model::Cluster& cluster);

// Every port worth probing for `proto` (TCP, UDP, SCTP: ports; ICMP: types): for each port
// or range the policies use, start-1, start, end and end+1; the pods' named ports; and a few
// fixed ones. Sorted, unique.
std::vector<uint16_t> probePorts(const model::Cluster& cluster, uint8_t proto);

// Addresses outside the pods and nodes: both sides of every policy CIDR edge and a few
// fixed ones (host order, sorted, unique).
std::vector<model::Ipv4> probeAddresses(const model::Cluster& cluster);

// "prod/p0 (10.0.1.10) -> 1.1.1.1 TCP 80" (ICMP: "ICMP type 8").
std::string describeFlow(const model::Cluster& cluster, const model::Flow& f);

// Loads a generated cluster; fails the property (RC_FAIL) with the errors if it does not load.
model::LoadResult loadGenerated(const GeneratedCluster& g);

// Runs a RapidCheck property inside the current Google Test with at least `min_success`
// cases, unless RC_PARAMS sets max_success explicitly. A failure fails the test with the
// minimal counterexample (the cluster as YAML, the RC_LOG lines) and a reproduce string.
template <typename Testable>
void checkGTestProp(int min_success, Testable&& testable) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  rc::detail::TestMetadata metadata;
  metadata.id = std::string(info->test_suite_name()) + "/" + info->name();
  metadata.description = info->name();
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  const char* env = std::getenv("RC_PARAMS");
  if (env == nullptr || std::string(env).find("max_success") == std::string::npos) {
    params.maxSuccess = std::max(params.maxSuccess, min_success);
  }
  const auto result = rc::detail::checkTestable(std::forward<Testable>(testable), metadata, params);
  if (!result.template is<rc::detail::SuccessResult>()) {
    std::ostringstream ss;
    rc::detail::printResultMessage(result, ss);
    ADD_FAILURE() << ss.str();
  }
}

}  // namespace membrane::testing

namespace membrane::model {
// RapidCheck prints generated flows through this (pod indices refer to the cluster's pods
// in manifest order: p0, p1, ...).
void showValue(const Flow& f, std::ostream& os);
}  // namespace membrane::model
