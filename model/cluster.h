// SPDX-License-Identifier: Apache-2.0
// The typed cluster that manifests load into: namespaces, nodes, workloads, pods,
// services, endpoint slices, policies and the security identities of every endpoint.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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
  // NodePort and LoadBalancer services: the port every node listens on (30000-32767 by
  // default, ClusterOptions::node_port_*); 0 for ClusterIP. An unset nodePort gets the lowest
  // free one of the range, as the API server would allocate one.
  uint16_t node_port = 0;
};

// ExternalName services are DNS aliases (no VIP, no backends): the loader ignores them with a
// warning, so no Service in a Cluster has that type.
enum class ServiceType : uint8_t { ClusterIP, NodePort, LoadBalancer };
enum class TrafficPolicy : uint8_t { Cluster, Local };
std::string_view serviceTypeName(ServiceType t);
std::string_view trafficPolicyName(TrafficPolicy t);

// One address a Service forwards to: a selected pod, or an endpoint of an EndpointSlice.
struct ServiceBackend {
  Ipv4 ip = 0;
  std::optional<size_t> pod;  // the pod with this address, if it is in the cluster
  std::string node_name;
  bool ready = true;  // takes new connections
  bool serving = true;
  bool terminating = false;  // keeps existing connections only
  // Per Service port (parallel to Service::ports): the backend's port after DNAT; 0 when the
  // backend does not serve that port (a named targetPort the pod does not declare).
  std::vector<uint16_t> target_ports;
  std::string slice;  // the EndpointSlice it came from; empty when from the selector
};

struct Service {
  std::string namespace_;
  std::string name;
  std::optional<StringMap> selector;
  std::vector<ServicePort> ports;
  std::optional<Ipv4> cluster_ip;
  // Pods behind the Service: the pods of its ready endpoints when EndpointSlices exist for it,
  // else the pods its selector matches (docs/policy-semantics.md, Services).
  std::vector<size_t> backends;
  SourceLoc loc;
  StringMap labels;  // metadata.labels, for toServices k8sServiceSelector
  ServiceType type = ServiceType::ClusterIP;
  bool headless = false;  // clusterIP: None
  std::vector<Ipv4> external_ips;
  std::vector<Ipv4> load_balancer_ips;  // status.loadBalancer.ingress[].ip
  bool affinity_client_ip = false;      // sessionAffinity: ClientIP
  uint32_t affinity_timeout_s = 10800;  // sessionAffinityConfig.clientIP.timeoutSeconds
  TrafficPolicy external_traffic_policy = TrafficPolicy::Cluster;
  TrafficPolicy internal_traffic_policy = TrafficPolicy::Cluster;
  // LoadBalancer with allocateLoadBalancerNodePorts: false: unset nodePorts stay 0.
  bool allocate_node_ports = true;
  bool from_slices = false;                       // backend_endpoints came from EndpointSlices
  std::vector<ServiceBackend> backend_endpoints;  // every endpoint, ready or not, pod or not
  std::string ref() const { return namespace_ + "/" + name; }
  // The target port of service port `port_index` on backend `b`, or 0.
  uint16_t targetPort(const ServiceBackend& b, size_t port_index) const;
};

struct SliceEndpoint {
  std::vector<Ipv4> addresses;
  bool ready = true;  // conditions: nil ready and serving mean true, nil terminating false
  bool serving = true;
  bool terminating = false;
  std::string node_name;
  std::string target_kind;  // targetRef
  std::string target_namespace;
  std::string target_name;
  SourceLoc loc;
};

struct EndpointSlice {
  std::string namespace_;
  std::string name;
  std::string service_name;        // label kubernetes.io/service-name
  std::vector<Ipv4> addresses;     // every endpoint's addresses
  std::vector<ServicePort> ports;  // port = the backends' port; target_port unused
  SourceLoc loc;
  std::vector<SliceEndpoint> endpoints;
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
  // The API server's --service-node-port-range: nodePorts outside it are load errors.
  uint16_t node_port_min = 30000;
  uint16_t node_port_max = 32767;
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
  const Service* findService(const std::string& ns, const std::string& name) const;
  // The Service whose ClusterIP, external IP or LoadBalancer IP is `ip`.
  const Service* findServiceByIp(Ipv4 ip) const;
};

}  // namespace membrane::model
