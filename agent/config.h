// SPDX-License-Identifier: Apache-2.0
// The agent's one configuration struct: defaults in the initializers, filled from a YAML
// file (--config) and then from flags (flags win), validated once. An invalid value is
// reported as "file:line:column: field: expected ..." (flags: "--flag: expected ...").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/diagnostics.h"

namespace membrane::kvstore {
struct ClientConfig;
}

namespace membrane::agent {

enum class Routing { Overlay, Native };
// Where the desired objects come from: the watched directory, or etcd (docs/kvstore.md),
// which also brings cluster-wide identities, nodes and ipcache (agent/store_source.h).
enum class DesiredSource { Directory, Etcd };

// The `kvstore` section: used only with DesiredSource::Etcd.
struct KvstoreConfig {
  std::vector<std::string> endpoints = {"http://127.0.0.1:2379"};
  std::string prefix = "membrane/";
  std::string ca_file, cert_file, key_file;  // TLS (https endpoints)
  uint32_t lease_ttl = 15;                   // seconds: a dead node's entries go after this
  uint32_t timeout_ms = 5000;                // deadline of each request
  // seconds an identity no node references is kept before garbage collection deletes it
  // (a restarting node takes its references back within it); GC runs every grace/2,
  // at least every second and at most every minute.
  uint32_t identity_gc_grace = 300;
};

struct PeerNode {
  std::string name;
  uint32_t ip = 0;               // host order
  std::optional<uint32_t> cidr;  // pod CIDR network (host order), with cidr_len
  uint8_t cidr_len = 0;
};

struct AgentConfig {
  std::string node_name;  // required
  uint32_t node_ip = 0;   // required, host order
  uint32_t pod_cidr = 0;  // required, network address, host order
  uint8_t pod_cidr_len = 0;
  // An address a runtime requests (CNI_ARGS IP=, runtimeConfig.ips) may lie outside the pod
  // CIDR: for clusters whose pods keep addresses assigned elsewhere (the simulator replays
  // recorded pod IPs). Such leases are persisted like the others; never handed out unasked.
  bool allow_requested_outside_pod_cidr = false;
  Routing routing = Routing::Overlay;
  std::string state_dir = "/var/lib/membrane";
  std::string bpffs_dir = "/sys/fs/bpf/membrane";
  std::string socket = "/var/run/membrane/membrane.sock";
  DesiredSource source = DesiredSource::Directory;
  std::string manifests;  // the watched directory (desired-state source directory), required then
  KvstoreConfig kvstore;
  std::string uplink;           // device towards the other nodes; empty = the one holding node_ip
  std::vector<PeerNode> nodes;  // other nodes (besides Node objects of the manifests)
  uint32_t mtu = 1450;          // pod interfaces (room for the VXLAN header)
  std::string cluster_name = "default";
  uint32_t cluster_id = 0;
  // Map sizes: small defaults keep a node's memory low; a node with more pods raises them.
  uint32_t max_endpoints = 1024;
  uint32_t ct_entries = 65536;
  uint32_t ipcache_entries = 65536;
  uint32_t policy_entries = 4096;  // per endpoint
  // Flows (docs/observe.md): the Observer's socket (empty: observerSocketPath()), an
  // optional loopback TCP address, and how many flows the ring keeps (Hubble's default).
  std::string observer_socket;
  std::string observer_listen;
  uint32_t flow_ring_size = 4095;
  std::string metrics_listen;  // Prometheus /metrics on host:port; empty = not served
  bool policy_audit = false;   // node-wide policy audit mode (policy drops pass as AUDIT)
  // The L7 proxy (docs/l7.md): membrane-proxy's path; empty = no proxy, L7-restricted flows
  // drop (PROXY_LOOKUP_FAILED). Its port is the one the policy compiler redirects to (15001).
  std::string l7_proxy_binary;
  // Socket-level load balancing (docs/datapath.md): the cgroup v2 directory whose processes'
  // connect/sendmsg to a Service VIP are translated at the socket; empty = off (per-packet DNAT).
  std::string socket_lb_cgroup;
};

// The Observer's socket: observer_socket, or hubble.sock in the API socket's directory.
std::string observerSocketPath(const AgentConfig& c);
// Whether `listen` is a loopback "host:port" (127.0.0.0/8, [::1] or localhost).
bool loopbackListenAddress(const std::string& listen);
// The address of an IPv4 "a.b.c.d:port" (host order), nullopt for anything else.
std::optional<uint32_t> ipv4ListenAddress(const std::string& listen);

// Flags given on the command line ("--node-name" -> "node-1").
using ConfigFlags = std::map<std::string, std::string>;

// The flags the agent knows, with their help text (in --help order).
struct FlagHelp {
  const char* flag;
  const char* yaml;  // the YAML key, "" when flag only
  const char* help;
};
const std::vector<FlagHelp>& configFlags();

// Reads `file` (may be empty: flags only), applies `flags`, validates. Every problem found
// goes to `diags`; the result is meaningful only when diags.ok().
AgentConfig loadConfig(const std::string& file, const ConfigFlags& flags,
                       model::Diagnostics& diags);

std::string routingName(Routing r);
std::string sourceName(DesiredSource s);
kvstore::ClientConfig clientConfig(const KvstoreConfig& k);
std::string cidrStr(uint32_t addr, uint8_t len);

}  // namespace membrane::agent
