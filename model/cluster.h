// SPDX-License-Identifier: Apache-2.0
// The typed cluster that manifests load into: namespaces, nodes, workloads, pods,
// services, endpoint slices, policies and the security identities of every endpoint.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/diagnostics.h"
#include "model/identity_numbers.h"
#include "model/ip.h"
#include "model/labels.h"
#include "model/policy.h"

namespace membrane::model {

class IdentityAllocator;  // model/identity_allocator.h

using StringMap = std::map<std::string, std::string>;

struct ContainerPort {
  std::string name;
  uint16_t port = 0;
  uint8_t protocol = kProtoTCP;
};

struct Namespace {
  std::string name;
  StringMap labels;
  SourceLoc loc;
  bool declared = true;  // false when only referenced by other objects
};

struct NodeInfo {
  std::string name;
  StringMap labels;
  std::optional<Ipv4> internal_ip;
  std::optional<Cidr> pod_cidr;
  SourceLoc loc;
};

struct Workload {
  std::string kind;  // Deployment, StatefulSet, ..., or the owner kind of a bare Pod
  std::string namespace_;
  std::string name;
  int replicas = 1;
  StringMap labels;  // pod template labels
  std::vector<ContainerPort> ports;
  std::string service_account = "default";
  std::string node_name;
  SourceLoc loc;
  std::string ref() const { return namespace_ + "/" + name + "[" + kind + "]"; }
};

struct Pod {
  std::string namespace_;
  std::string name;
  StringMap labels;
  std::string node_name;  // may be empty
  std::optional<Ipv4> ip;
  std::string service_account = "default";
  std::vector<ContainerPort> ports;
  size_t workload = 0;  // index into Cluster::workloads (a bare pod gets its own "Pod" workload)
  IdentityId identity = 0;
  SourceLoc loc;
  std::string ref() const { return namespace_ + "/" + name; }
};

struct ServicePort {
  std::string name;
  uint16_t port = 0;
  std::string target_port;  // number or container port name
  uint8_t protocol = kProtoTCP;
};

struct Service {
  std::string namespace_;
  std::string name;
  std::optional<StringMap> selector;
  std::vector<ServicePort> ports;
  std::optional<Ipv4> cluster_ip;
  std::vector<size_t> backends;  // pod indices selected by the selector or endpoint slices
  SourceLoc loc;
};

struct EndpointSlice {
  std::string namespace_;
  std::string name;
  std::string service_name;
  std::vector<Ipv4> addresses;
  std::vector<ServicePort> ports;
  SourceLoc loc;
};

struct CidrGroup {
  std::string name;
  StringMap labels;
  std::vector<Cidr> cidrs;
  SourceLoc loc;
};

enum class IdentityKind : uint8_t { Reserved, Cluster, Cidr };

struct Identity {
  IdentityId id = 0;
  IdentityKind kind = IdentityKind::Reserved;
  Labels labels;
  std::optional<Cidr> cidr;  // for kind Cidr
  // Named ports of the endpoints with this identity (union), for egress named ports.
  std::multimap<std::string, ContainerPort> named_ports;
  size_t endpoint_count = 0;
};

struct ClusterOptions {
  std::string name = "default";
  uint32_t id = 0;  // 0..255; goes into bits 16-23 of allocated identities
  // Numbers the pods' label sets when set (model/identity_allocator.h; its cluster id must be
  // `id`), so numbers stay put across reloads: relabelling a pod renumbers no other identity.
  // nullptr: numbered by the sorted order of this load's label sets. A fresh in-memory
  // allocator gives exactly those numbers on its first load.
  std::shared_ptr<IdentityAllocator> identities;
};

struct Cluster {
  ClusterOptions options;
  std::vector<Namespace> namespaces;
  std::vector<NodeInfo> nodes;
  std::vector<Workload> workloads;
  std::vector<Pod> pods;
  std::vector<Service> services;
  std::vector<EndpointSlice> endpoint_slices;
  std::vector<CidrGroup> cidr_groups;
  PolicyRepository policies;
  std::map<IdentityId, Identity> identities;  // reserved, pod and CIDR identities
  std::map<std::string, int> ignored_kinds;   // kind -> count

  const Namespace* findNamespace(const std::string& name) const;
  const NodeInfo* findNode(const std::string& name) const;
  std::optional<size_t> findPod(const std::string& ns, const std::string& name) const;
  std::optional<size_t> findPodByIp(Ipv4 ip) const;
  const Identity* identity(IdentityId id) const;
};

}  // namespace membrane::model
