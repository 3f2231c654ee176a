// SPDX-License-Identifier: Apache-2.0
#include "agent/config.h"

#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <filesystem>
#include <functional>

#include "kvstore/client.h"
#include "model/ip.h"
#include "model/yaml_guard.h"

namespace membrane::agent {
namespace {

// A setter parses one value into the config; it returns what was expected on failure.
using Setter = std::function<std::optional<std::string>(AgentConfig&, const std::string&)>;

struct Field {
  FlagHelp help;
  Setter set;
};

std::optional<std::string> setPath(std::string& out, const std::string& v) {
  if (v.empty() || v.front() != '/') return "an absolute path";
  out = v;
  return std::nullopt;
}

std::optional<std::string> setUint(uint32_t& out, const std::string& v, uint32_t lo, uint32_t hi) {
  uint32_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi) {
    return "an integer " + std::to_string(lo) + "-" + std::to_string(hi);
  }
  out = n;
  return std::nullopt;
}

std::optional<std::string> setFile(std::string& out, const std::string& v) {
  if (v.empty() || v.front() != '/') return "an absolute path of a readable PEM file";
  out = v;
  return std::nullopt;
}

// "http(s)://host:port,..." (a YAML list is joined with commas before it gets here).
std::optional<std::string> setEndpoints(std::vector<std::string>& out, const std::string& v) {
  const char* expected = "comma-separated URLs http://HOST:PORT or https://HOST:PORT";
  std::vector<std::string> eps;
  size_t start = 0;
  while (start <= v.size()) {
    const size_t comma = std::min(v.find(',', start), v.size());
    const std::string e = v.substr(start, comma - start);
    start = comma + 1;
    const size_t scheme = e.find("://");
    if (scheme == std::string::npos ||
        (e.substr(0, scheme) != "http" && e.substr(0, scheme) != "https")) {
      return expected;
    }
    const std::string hostport = e.substr(scheme + 3);
    const size_t colon = hostport.rfind(':');
    uint32_t port = 0;
    if (colon == std::string::npos || colon == 0 ||
        setUint(port, hostport.substr(colon + 1), 1, 65535)) {
      return expected;
    }
    eps.push_back(e);
  }
  out = eps;
  return std::nullopt;
}

std::optional<std::string> setCidr(uint32_t& addr, uint8_t& len, const std::string& v) {
  std::string why;
  auto c = model::parseCidr(v, &why);
  if (!c || c->ipv6 || v.find('/') == std::string::npos) {
    return "an IPv4 prefix a.b.c.d/n with zero host bits";
  }
  if (model::parseIpv4(v.substr(0, v.find('/'))) != std::optional<uint32_t>(c->addr)) {
    return "an IPv4 prefix a.b.c.d/n with zero host bits";
  }
  if (c->len > 30) return "an IPv4 prefix of length 30 or shorter (room for pods)";
  addr = c->addr;
  len = c->len;
  return std::nullopt;
}

const std::vector<Field>& fields() {
  static const std::vector<Field> f = {
      {{"--node-name", "nodeName",
        "this node's name (required; Node objects and spec.nodeName use it)"},
       [](AgentConfig& c, const std::string& v) -> std::optional<std::string> {
         if (v.empty() || v.size() > 253) return "a non-empty node name";
         c.node_name = v;
         return std::nullopt;
       }},
      {{"--node-ip", "nodeIP", "this node's underlay IPv4 address (required)"},
       [](AgentConfig& c, const std::string& v) -> std::optional<std::string> {
         auto ip = model::parseIpv4(v);
         if (!ip) return "an IPv4 address a.b.c.d";
         c.node_ip = *ip;
         return std::nullopt;
       }},
      {{"--pod-cidr", "podCIDR", "this node's pod CIDR, source of the IPAM pool (required)"},
       [](AgentConfig& c, const std::string& v) { return setCidr(c.pod_cidr, c.pod_cidr_len, v); }},
      {{"--allow-requested-outside-pod-cidr", "allowRequestedOutsidePodCIDR",
        "true: a requested address outside podCIDR is leased (default false)"},
       [](AgentConfig& c, const std::string& v) -> std::optional<std::string> {
         if (v != "true" && v != "false") return "true or false";
         c.allow_requested_outside_pod_cidr = v == "true";
         return std::nullopt;
       }},
      {{"--routing", "routing", "overlay (VXLAN, default) or native (routes via the uplink)"},
       [](AgentConfig& c, const std::string& v) -> std::optional<std::string> {
         if (v == "overlay") {
           c.routing = Routing::Overlay;
         } else if (v == "native") {
           c.routing = Routing::Native;
         } else {
           return "overlay or native";
         }
         return std::nullopt;
       }},
      {{"--state-dir", "stateDir", "state directory (default /var/lib/membrane)"},
       [](AgentConfig& c, const std::string& v) { return setPath(c.state_dir, v); }},
      {{"--bpffs-dir", "bpffsDir", "bpffs directory for pins (default /sys/fs/bpf/membrane)"},
       [](AgentConfig& c, const std::string& v) { return setPath(c.bpffs_dir, v); }},
      {{"--socket", "socket", "API socket (default /var/run/membrane/membrane.sock)"},
       [](AgentConfig& c, const std::string& v) { return setPath(c.socket, v); }},
      {{"--observer-socket", "observerSocket",
        "Hubble Observer gRPC socket (default: hubble.sock next to the API socket)"},
       [](AgentConfig& c, const std::string& v) { return setPath(c.observer_socket, v); }},
      {{"--observer-listen", "observerListen",
        "also serve the Observer on host:port: loopback, or the node's IP for other nodes' "
        "`membrane observe` (published in the store; default: none)"},
       [](AgentConfig& c, const std::string& v) -> std::optional<std::string> {
         if (!loopbackListenAddress(v) && !ipv4ListenAddress(v)) {
           return "host:port with a loopback address (127.x.y.z, [::1], localhost) or the "
                  "node's IPv4 address";
         }
         c.observer_listen = v;
         return std::nullopt;
       }},
      {{"--l7-proxy-binary", "l7ProxyBinary",
        "run this membrane-proxy for L7 rules (default: none; L7 flows then drop)"},
       [](AgentConfig& c, const std::string& v) -> std::optional<std::string> {
         if (v.empty() || v.front() != '/' || access(v.c_str(), X_OK) != 0) {
           return "an absolute path of an executable membrane-proxy";
         }
         c.l7_proxy_binary = v;
         return std::nullopt;
       }},
      {{"--socket-lb-cgroup", "socketLBCgroup",
        "translate Service VIPs at connect/sendmsg for the processes of this cgroup v2 "
        "directory (default: none; per-packet DNAT only)"},
       [](AgentConfig& c, const std::string& v) -> std::optional<std::string> {
         struct stat st {};
         if (v.empty() || v.front() != '/' || ::stat(v.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
           return "an absolute path of an existing cgroup v2 directory";
         }
         c.socket_lb_cgroup = v;
         return std::nullopt;
       }},
      {{"--metrics-listen", "metricsListen",
        "serve Prometheus /metrics on this IPv4 host:port (default: none)"},
       [](AgentConfig& c, const std::string& v) -> std::optional<std::string> {
         const auto colon = v.rfind(':');
         uint32_t port = 0;
         if (colon == std::string::npos || !model::parseIpv4(v.substr(0, colon)) ||
             setUint(port, v.substr(colon + 1), 1, 65535)) {
           return "an IPv4 address and port a.b.c.d:port";
         }
         c.metrics_listen = v;
         return std::nullopt;
       }},
      {{"--policy-audit-mode", "policyAuditMode",
        "true: policy drops pass and are reported as AUDIT flows (default false)"},
       [](AgentConfig& c, const std::string& v) -> std::optional<std::string> {
         if (v != "true" && v != "false") return "true or false";
         c.policy_audit = v == "true";
         return std::nullopt;
       }},
      {{"--flow-ring-size", "flowRingSize", "flows kept for the Observer (default 4095)"},
       [](AgentConfig& c, const std::string& v) {
         return setUint(c.flow_ring_size, v, 1, 1u << 20);
       }},
      {{"--desired-state", "desiredState",
        "directory (default: the --manifests directory) or etcd (the kvstore section)"},
       [](AgentConfig& c, const std::string& v) -> std::optional<std::string> {
         if (v == "directory") {
           c.source = DesiredSource::Directory;
         } else if (v == "etcd") {
           c.source = DesiredSource::Etcd;
         } else {
           return "directory or etcd";
         }
         return std::nullopt;
       }},
      {{"--manifests", "manifests",
        "watched directory of manifests: the desired state (required with directory)"},
       [](AgentConfig& c, const std::string& v) { return setPath(c.manifests, v); }},
      {{"--etcd-endpoints", "kvstore.endpoints",
        "etcd members, comma-separated (default http://127.0.0.1:2379)"},
       [](AgentConfig& c, const std::string& v) { return setEndpoints(c.kvstore.endpoints, v); }},
      {{"--etcd-prefix", "kvstore.prefix", "key prefix in etcd (default membrane/)"},
       [](AgentConfig& c, const std::string& v) -> std::optional<std::string> {
         if (v.empty() || v.back() != '/' || v.front() == '/') {
           return "a key prefix ending in / (like membrane/)";
         }
         c.kvstore.prefix = v;
         return std::nullopt;
       }},
      {{"--etcd-ca", "kvstore.ca", "CA bundle (PEM) of etcd's server certificates (https)"},
       [](AgentConfig& c, const std::string& v) { return setFile(c.kvstore.ca_file, v); }},
      {{"--etcd-cert", "kvstore.cert", "client certificate (PEM), with --etcd-key"},
       [](AgentConfig& c, const std::string& v) { return setFile(c.kvstore.cert_file, v); }},
      {{"--etcd-key", "kvstore.key", "client key (PEM), with --etcd-cert"},
       [](AgentConfig& c, const std::string& v) { return setFile(c.kvstore.key_file, v); }},
      {{"--etcd-lease-ttl", "kvstore.leaseTTL",
        "seconds: this node's entries outlive a crash by this long (default 15)"},
       [](AgentConfig& c, const std::string& v) {
         return setUint(c.kvstore.lease_ttl, v, 2, 3600);
       }},
      {{"--etcd-identity-gc-grace", "kvstore.identityGCGrace",
        "seconds an identity no node references is kept before it is deleted (default 300)"},
       [](AgentConfig& c, const std::string& v) {
         return setUint(c.kvstore.identity_gc_grace, v, 1, 86400);
       }},
      {{"--etcd-timeout-ms", "kvstore.timeoutMs", "deadline of each etcd request (default 5000)"},
       [](AgentConfig& c, const std::string& v) {
         return setUint(c.kvstore.timeout_ms, v, 10, 600000);
       }},
      {{"--uplink", "uplink", "device towards other nodes (default: the one holding nodeIP)"},
       [](AgentConfig& c, const std::string& v) -> std::optional<std::string> {
         if (v.empty() || v.size() >= 16) return "an interface name of 1-15 characters";
         c.uplink = v;
         return std::nullopt;
       }},
      {{"--mtu", "mtu", "MTU of pod interfaces (default 1450)"},
       [](AgentConfig& c, const std::string& v) { return setUint(c.mtu, v, 576, 9000); }},
      {{"--cluster-name", "clusterName", "cluster name (default \"default\")"},
       [](AgentConfig& c, const std::string& v) -> std::optional<std::string> {
         if (v.empty()) return "a non-empty name";
         c.cluster_name = v;
         return std::nullopt;
       }},
      {{"--cluster-id", "clusterId", "cluster id 0-255 (default 0)"},
       [](AgentConfig& c, const std::string& v) { return setUint(c.cluster_id, v, 0, 255); }},
      {{"--max-endpoints", "maxEndpoints", "endpoints per node (default 1024)"},
       [](AgentConfig& c, const std::string& v) { return setUint(c.max_endpoints, v, 1, 65535); }},
      {{"--ct-entries", "ctEntries", "conntrack entries (default 65536)"},
       [](AgentConfig& c, const std::string& v) {
         return setUint(c.ct_entries, v, 1024, 1u << 24);
       }},
      {{"--ipcache-entries", "ipcacheEntries", "ipcache entries (default 65536)"},
       [](AgentConfig& c, const std::string& v) {
         return setUint(c.ipcache_entries, v, 1024, 1u << 24);
       }},
      {{"--policy-entries", "policyEntries", "policy entries per endpoint (default 4096)"},
       [](AgentConfig& c, const std::string& v) {
         return setUint(c.policy_entries, v, 16, 1u << 20);
       }},
  };
  return f;
}

}  // namespace

std::optional<uint32_t> ipv4ListenAddress(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  uint32_t p = 0;
  const std::string port = listen.substr(colon + 1);
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p == 0 ||
      p > 65535) {
    return std::nullopt;
  }
  auto ip = model::parseIpv4(listen.substr(0, colon));
  if (!ip) return std::nullopt;
  return *ip;
}

bool loopbackListenAddress(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  const std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  uint32_t p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p == 0 ||
      p > 65535) {
    return false;
  }
  if (host == "localhost" || host == "[::1]") return true;
  auto ip = model::parseIpv4(host);
  return ip && (*ip >> 24) == 127;
}

std::string observerSocketPath(const AgentConfig& c) {
  if (!c.observer_socket.empty()) return c.observer_socket;
  return (std::filesystem::path(c.socket).parent_path() / "hubble.sock").string();
}

namespace {

model::SourceLoc locOf(const std::string& file, const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return {.file = file, .line = m.line + 1, .column = m.column + 1};
}

void parseNodes(const std::string& file, const YAML::Node& seq, AgentConfig& c,
                model::Diagnostics& diags) {
  auto err = [&](const YAML::Node& at, const std::string& field, const std::string& what) {
    diags.error({.loc = locOf(file, at), .field = field, .message = "expected " + what});
  };
  if (!seq.IsSequence()) return err(seq, "nodes", "a list of {name, ip, podCIDR}");
  for (size_t i = 0; i < seq.size(); ++i) {
    const std::string path = "nodes[" + std::to_string(i) + "]";
    const YAML::Node n = seq[i];
    if (!n.IsMap()) {
      err(n, path, "a map with name, ip and optional podCIDR");
      continue;
    }
    PeerNode p;
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      const YAML::Node v = kv.second;
      if (!v.IsScalar()) {
        err(v, path + "." + k, "a scalar");
        continue;
      }
      if (k == "name") {
        p.name = v.Scalar();
      } else if (k == "ip") {
        auto ip = model::parseIpv4(v.Scalar());
        if (!ip) err(v, path + ".ip", "an IPv4 address a.b.c.d");
        p.ip = ip.value_or(0);
      } else if (k == "podCIDR") {
        uint32_t a = 0;
        uint8_t l = 0;
        if (auto e = setCidr(a, l, v.Scalar())) {
          err(v, path + ".podCIDR", *e);
        } else {
          p.cidr = a;
          p.cidr_len = l;
        }
      } else {
        err(kv.first, path + "." + k, "one of name, ip, podCIDR");
      }
    }
    if (p.name.empty()) err(n, path + ".name", "a node name");
    if (p.ip == 0) err(n, path + ".ip", "an IPv4 address a.b.c.d");
    c.nodes.push_back(p);
  }
}

// One `key: value` of the file (`kvstore.endpoints` for the section's entries).
void setting(const std::string& file, const std::string& key, const YAML::Node& k,
             const YAML::Node& v, AgentConfig& c, model::Diagnostics& diags) {
  const Field* f = nullptr;
  for (const auto& cand : fields()) {
    if (key == cand.help.yaml) f = &cand;
  }
  if (f == nullptr) {
    std::string known = "nodes";
    for (const auto& cand : fields()) known += std::string(", ") + cand.help.yaml;
    diags.error({.loc = locOf(file, k),
                 .field = key,
                 .message = "unknown setting; expected one of " + known});
    return;
  }
  std::string value;
  if (key == "kvstore.endpoints" && v.IsSequence()) {
    for (const auto& e : v) value += (value.empty() ? "" : ",") + (e.IsScalar() ? e.Scalar() : "?");
  } else if (!v.IsScalar()) {
    diags.error({.loc = locOf(file, v), .field = key, .message = "expected a scalar"});
    return;
  } else {
    value = v.Scalar();
  }
  if (auto e = f->set(c, value)) {
    diags.error(
        {.loc = locOf(file, v), .field = key, .message = "\"" + value + "\": expected " + *e});
  }
}

void parseFile(const std::string& file, AgentConfig& c, model::Diagnostics& diags) {
  auto root = model::loadYamlFile(file, diags);
  if (!root) return;
  if (root->IsNull()) return;
  if (!root->IsMap()) {
    diags.error({.loc = locOf(file, *root), .message = "expected a map of settings"});
    return;
  }
  for (const auto& kv : *root) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
    if (key == "nodes") {
      parseNodes(file, kv.second, c, diags);
    } else if (key == "kvstore" && kv.second.IsMap()) {
      for (const auto& sub : kv.second) {
        setting(file, "kvstore." + (sub.first.IsScalar() ? sub.first.Scalar() : ""), sub.first,
                sub.second, c, diags);
      }
    } else {
      setting(file, key, kv.first, kv.second, c, diags);
    }
  }
}

// The store settings together: one source, TLS files that exist, TLS only with https; the
// client is built (no request is sent) so that what it would refuse is refused here.
void validateKvstore(const std::string& file, const AgentConfig& c, model::Diagnostics& diags) {
  const std::string where = file.empty() ? "(flags)" : file;
  auto err = [&](const std::string& field, const std::string& msg) {
    diags.error({.loc = {.file = where}, .field = field, .message = msg});
  };
  const KvstoreConfig& k = c.kvstore;
  if (!c.manifests.empty()) {
    err("manifests", "set with desiredState etcd; expected one desired-state source");
  }
  bool https = false, http = false;
  for (const auto& e : k.endpoints) (e.rfind("https://", 0) == 0 ? https : http) = true;
  if (https && http) err("kvstore.endpoints", "expected all http:// or all https://");
  if (https && k.ca_file.empty()) err("kvstore.ca", "required with https:// endpoints");
  if (http && (!k.ca_file.empty() || !k.cert_file.empty() || !k.key_file.empty())) {
    err("kvstore.ca", "TLS files with http:// endpoints; expected https:// endpoints");
  }
  if (k.cert_file.empty() != k.key_file.empty()) {
    err(k.cert_file.empty() ? "kvstore.cert" : "kvstore.key",
        "expected kvstore.cert and kvstore.key together");
  }
  std::error_code ec;
  for (const auto& [field, path] :
       {std::pair<const char*, const std::string&>{"kvstore.ca", k.ca_file},
        {"kvstore.cert", k.cert_file},
        {"kvstore.key", k.key_file}}) {
    if (!path.empty() && !std::filesystem::is_regular_file(path, ec)) {
      err(field, "\"" + path + "\": expected a readable file");
    }
  }
  if (!diags.ok()) return;
  auto client = kvstore::Client::create(clientConfig(k));
  if (!client) err("kvstore", client.error().message);
}

void validate(const std::string& file, AgentConfig& c, model::Diagnostics& diags) {
  auto missing = [&](const char* yaml, const char* flag) {
    diags.error(
        {.loc = {.file = file.empty() ? "(flags)" : file},
         .field = yaml,
         .message = std::string("required setting missing (YAML ") + yaml + " or " + flag + ")"});
  };
  if (c.node_name.empty()) missing("nodeName", "--node-name");
  if (c.node_ip == 0) missing("nodeIP", "--node-ip");
  if (c.pod_cidr_len == 0) missing("podCIDR", "--pod-cidr");
  if (c.source == DesiredSource::Directory && c.manifests.empty()) {
    missing("manifests", "--manifests");
  }
  if (c.source == DesiredSource::Etcd) validateKvstore(file, c, diags);
  std::error_code ec;
  if (!c.manifests.empty() && !std::filesystem::is_directory(c.manifests, ec)) {
    diags.error({.loc = {.file = file.empty() ? "(flags)" : file},
                 .field = "manifests",
                 .message = "\"" + c.manifests + "\": expected an existing directory"});
  }
  // The Observer is plaintext gRPC without authentication: beyond loopback only on the
  // node's own (cluster-internal) address, never a wildcard or another interface's.
  if (!c.observer_listen.empty() && !loopbackListenAddress(c.observer_listen)) {
    auto ip = ipv4ListenAddress(c.observer_listen);
    if (!ip || *ip != c.node_ip) {
      diags.error({.loc = {.file = file.empty() ? "(flags)" : file},
                   .field = "observerListen",
                   .message = "\"" + c.observer_listen +
                              "\": expected a loopback address or the node's IP (nodeIP " +
                              model::formatIpv4(c.node_ip) + ") with a port"});
    }
  }
  for (const auto& n : c.nodes) {
    if (n.name == c.node_name) {
      diags.error({.loc = {.file = file},
                   .field = "nodes",
                   .message = "lists this node (" + n.name + "); expected the other nodes only"});
    }
  }
}

}  // namespace

const std::vector<FlagHelp>& configFlags() {
  static const std::vector<FlagHelp> out = [] {
    std::vector<FlagHelp> v;
    for (const auto& f : fields()) v.push_back(f.help);
    return v;
  }();
  return out;
}

AgentConfig loadConfig(const std::string& file, const ConfigFlags& flags,
                       model::Diagnostics& diags) {
  AgentConfig c;
  if (!file.empty()) parseFile(file, c, diags);
  for (const auto& [flag, value] : flags) {
    const Field* f = nullptr;
    for (const auto& cand : fields()) {
      if (flag == cand.help.flag) f = &cand;
    }
    if (f == nullptr) {
      diags.error({.loc = {.file = "(flags)"}, .field = flag, .message = "unknown flag"});
      continue;
    }
    if (auto e = f->set(c, value)) {
      diags.error({.loc = {.file = "(flags)"},
                   .field = flag,
                   .message = "\"" + value + "\": expected " + *e});
    }
  }
  validate(file, c, diags);
  return c;
}

std::string routingName(Routing r) { return r == Routing::Overlay ? "overlay" : "native"; }

std::string sourceName(DesiredSource s) {
  return s == DesiredSource::Directory ? "directory" : "etcd";
}

kvstore::ClientConfig clientConfig(const KvstoreConfig& k) {
  return {.endpoints = k.endpoints,
          .tls = {.ca_file = k.ca_file, .cert_file = k.cert_file, .key_file = k.key_file},
          .request_timeout = std::chrono::milliseconds(k.timeout_ms)};
}

std::string cidrStr(uint32_t addr, uint8_t len) {
  return model::formatIpv4(addr) + "/" + std::to_string(len);
}

}  // namespace membrane::agent
