// SPDX-License-Identifier: Apache-2.0
#include "agent/desired.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "model/ip.h"

namespace membrane::agent {
namespace {

// A node name no pod can carry: pods without spec.nodeName run nowhere on this node.
constexpr const char* kNoNode = "\x01unscheduled";

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// One compact flow-style document: the model loads a Pod per endpoint on every reconcile,
// so the text it parses is kept short.
std::string synthesizedPod(const EndpointRecord& r, const std::string& ns,
                           const std::string& name) {
  std::string y = "---\n{apiVersion: v1, kind: Pod, metadata: {namespace: " + quoted(ns) +
                  ", name: " + quoted(name) + ", labels: {";
  if (r.labels.empty()) {
    y += quoted(kUnmanagedLabel) + ": \"true\"";
  } else {
    const char* sep = "";
    for (const auto& [k, v] : r.labels) {
      y += sep + quoted(k) + ": " + quoted(v);
      sep = ", ";
    }
  }
  return y + "}}}\n";
}

// Another node's endpoint whose Pod object is not in the store (created through the CNI
// with the request's labels): a Pod of this model too, named after its address, so that
// policies select its label set here as they do on its node.
std::string remotePod(uint32_t ip, const ClusterView::Endpoint& e) {
  const std::string ns = e.pod.substr(0, e.pod.find('/'));
  std::string dashed = "remote-" + model::formatIpv4(ip);
  std::replace(dashed.begin(), dashed.end(), '.', '-');
  const std::string name = dashed;
  std::string y = "---\n{apiVersion: v1, kind: Pod, metadata: {namespace: " + quoted(ns) +
                  ", name: " + quoted(name) + ", labels: {";
  const char* sep = "";
  for (const auto& [k, v] : e.labels) {
    y += sep + quoted(k) + ": " + quoted(v);
    sep = ", ";
  }
  return y + "}}, spec: {nodeName: " + quoted(e.node) +
         "}, status: {podIP: " + quoted(model::formatIpv4(ip)) + "}}\n";
}

// Other nodes' endpoints (pod ref -> address, node) whose Pod object is in the store: the
// model gives them their published address and node. One without a Pod object becomes a
// Pod of its own (appended to `extra`).
using RemotePods = std::map<std::string, std::pair<uint32_t, std::string>>;
RemotePods remotePods(const AgentConfig& config, const ManifestSet& manifests,
                      const ClusterView* view, std::string& extra) {
  RemotePods out;
  if (view == nullptr || !manifests.pod_refs) return out;
  for (const auto& [ip, e] : view->endpoints) {
    if (e.node == config.node_name || e.pod.empty()) continue;
    if (manifests.pod_refs->count(e.pod)) {
      out[e.pod] = {ip, e.node};
    } else if (e.pod.find('/') != std::string::npos) {
      extra += remotePod(ip, e);
    }
  }
  return out;
}

// Every known node's address and the routes to other nodes' pod CIDRs: Node objects, then
// the `nodes` setting, then the store (later wins), this node's own settings last.
void addNodes(const AgentConfig& config, const ClusterView* view, DesiredModel& m) {
  for (const auto& n : m.loaded.cluster.nodes) {
    if (n.internal_ip) m.node_ips[n.name] = *n.internal_ip;
    if (n.name != config.node_name && n.internal_ip && n.pod_cidr && !n.pod_cidr->ipv6) {
      m.remote_routes[{.addr = n.pod_cidr->addr, .len = n.pod_cidr->len}] = *n.internal_ip;
    }
  }
  for (const auto& n : config.nodes) {
    m.node_ips[n.name] = n.ip;
    if (n.cidr) m.remote_routes[{.addr = *n.cidr, .len = n.cidr_len}] = n.ip;
  }
  if (view != nullptr) {
    for (const auto& [name, n] : view->nodes) {
      if (name == config.node_name) continue;
      m.node_ips[name] = n.ip;
      if (n.pod_cidr) m.remote_routes[*n.pod_cidr] = n.via;
    }
    for (const auto& [ip, e] : view->endpoints) {
      if (e.node != config.node_name) m.remote_endpoints[ip] = e;
    }
  }
  m.node_ips[config.node_name] = config.node_ip;
}

}  // namespace

ManifestSet readManifests(const std::string& dir) {
  ManifestSet out;
  for (const auto& f : model::collectManifestFiles({dir}, out.diags)) {
    std::ifstream in(f);
    if (!in) {
      out.diags.error({.loc = {.file = f}, .message = "cannot read"});
      continue;
    }
    std::ostringstream s;
    s << in.rdbuf();
    out.texts.push_back({.name = f, .text = s.str()});
  }
  return out;
}

std::string manifestDigest(const ManifestSet& set, const std::string& dir) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](const std::string& bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 1099511628211ULL;
    }
    h *= 1099511628211ULL;  // the NUL separator (xor with 0 is a no-op)
  };
  for (const auto& t : set.texts) {
    mix(std::filesystem::path(t.name).lexically_relative(dir).generic_string());
    mix(t.text);
  }
  char out[17];
  std::snprintf(out, sizeof(out), "%016llx", static_cast<unsigned long long>(h));
  return out;
}

std::optional<size_t> manifestPod(const model::Cluster& c, const EndpointRecord& r) {
  if (r.pod_name.empty()) return std::nullopt;
  return c.findPod(r.pod_namespace.empty() ? "default" : r.pod_namespace, r.pod_name);
}

namespace {

// Pods of other nodes whose address no route of a pod CIDR covers (their node declares
// none, or they keep an address from elsewhere): one /32 route each via their node, so
// native routing reaches them as it reaches a pod CIDR.
void addPodRoutes(const AgentConfig& config, const model::Cluster& c, DesiredModel& m) {
  auto covered = [&](uint32_t ip, uint32_t node_ip) {
    for (const auto& [dst, via] : m.remote_routes) {
      const uint32_t mask = dst.len == 0 ? 0 : ~0u << (32 - dst.len);
      if (via == node_ip && (ip & mask) == dst.addr) return true;
    }
    return false;
  };
  for (const auto& p : c.pods) {
    if (!p.ip || p.node_name.empty() || p.node_name == config.node_name || p.node_name == kNoNode) {
      continue;
    }
    auto node = m.node_ips.find(p.node_name);
    if (node == m.node_ips.end() || covered(*p.ip, node->second)) continue;
    m.remote_routes[{.addr = *p.ip, .len = 32}] = node->second;
  }
}

}  // namespace

model::LoadResult LoadCache::load(const std::vector<model::ManifestText>& texts,
                                  const model::ClusterOptions& options) {
  const std::string key = options.name + "/" + std::to_string(options.id);
  auto same = [&](const Slot& s) {
    if (s.used == 0 || s.options != key || s.texts.size() != texts.size()) return false;
    for (size_t i = 0; i < texts.size(); ++i) {
      if (s.texts[i].name != texts[i].name || s.texts[i].text != texts[i].text) return false;
    }
    return true;
  };
  for (Slot& s : slots_) {
    if (same(s)) {
      s.used = ++clock_;
      ++hits_;
      return s.result;
    }
  }
  Slot& victim = slots_[0].used <= slots_[1].used ? slots_[0] : slots_[1];
  victim.result = loadParsed(texts, options);
  victim.texts = texts;
  victim.options = key;
  victim.used = ++clock_;
  return victim.result;
}

// Parses the texts whose name is new or whose text changed, reuses the documents of the
// others, forgets names no load of this clock used (both slots' texts stay).
model::LoadResult LoadCache::loadParsed(const std::vector<model::ManifestText>& texts,
                                        const model::ClusterOptions& options) {
  std::vector<model::ManifestDoc> docs;
  model::Diagnostics diags;
  for (const auto& t : texts) {
    auto [it, fresh] = parsed_docs_.try_emplace(t.name);
    Parsed& p = it->second;
    if (fresh || p.text != t.text) {
      p.diags = model::Diagnostics();
      p.docs = model::parseManifestDocs(t.name, t.text, p.diags);
      p.text = t.text;
      ++parsed_;
    }
    p.used = clock_;
    docs.insert(docs.end(), p.docs.begin(), p.docs.end());
    diags.merge(p.diags);
  }
  // Names in neither slot's texts are gone from the desired state: their trees go too.
  std::erase_if(parsed_docs_, [&](const auto& kv) { return kv.second.used + 1 < clock_; });
  return model::loadClusterFromDocs(docs, diags, options);
}

std::unique_ptr<DesiredModel> buildDesiredModel(const AgentConfig& config,
                                                const ManifestSet& manifests,
                                                const std::map<std::string, EndpointRecord>& eps,
                                                const ClusterView* view, LoadCache* cache) {
  auto m = std::make_unique<DesiredModel>();
  const model::ClusterOptions opts{.name = config.cluster_name,
                                   .id = config.cluster_id,
                                   .identities = view ? view->identities : nullptr};
  auto load = [&](const std::vector<model::ManifestText>& texts) {
    return cache ? cache->load(texts, opts) : model::loadClusterFromTexts(texts, opts);
  };
  // The Pod objects endpoints bind to: known from the store's keys without a load (one load
  // per reconcile instead of two), else from a first load of the manifests.
  std::function<std::optional<std::string>(const EndpointRecord&)> pod_of;
  if (manifests.pod_refs) {
    pod_of = [&](const EndpointRecord& r) -> std::optional<std::string> {
      const std::string ref =
          (r.pod_namespace.empty() ? "default" : r.pod_namespace) + "/" + r.pod_name;
      if (r.pod_name.empty() || !manifests.pod_refs->count(ref)) return std::nullopt;
      return ref;
    };
  } else {
    m->loaded = load(manifests.texts);
    m->loaded.diags.merge(manifests.diags);
    if (!m->loaded.diags.ok()) return m;
    pod_of = [&](const EndpointRecord& r) -> std::optional<std::string> {
      auto p = manifestPod(m->loaded.cluster, r);
      if (!p) return std::nullopt;
      return m->loaded.cluster.pods[*p].ref();
    };
  }
  // Endpoints without a Pod object (or whose Pod object another endpoint already holds)
  // become Pods of their own: load again with those documents appended.
  model::ManifestText extra{.name = kEndpointsSource};
  std::set<std::string> taken;
  for (const auto& [key, r] : eps) {
    auto p = pod_of(r);
    if (p && taken.insert(*p).second) {
      m->bindings[key] = {.pod_ref = *p, .from_manifests = true};
      continue;
    }
    const std::string ns = r.pod_name.empty() || p
                               ? "default"
                               : (r.pod_namespace.empty() ? "default" : r.pod_namespace);
    const std::string name = r.pod_name.empty() || p
                                 ? "cni-" + r.container_id.substr(0, 12) + "-" + r.ifname
                                 : r.pod_name;
    extra.text += synthesizedPod(r, ns, name);
    m->bindings[key] = {.pod_ref = ns + "/" + name, .from_manifests = false};
  }
  const RemotePods remote = remotePods(config, manifests, view, extra.text);
  if (!extra.text.empty() || manifests.pod_refs) {
    auto texts = manifests.texts;
    if (!extra.text.empty()) texts.push_back(std::move(extra));
    m->loaded = load(texts);
    m->loaded.diags.merge(manifests.diags);
    if (!m->loaded.diags.ok()) return m;
  }
  model::Cluster& c = m->loaded.cluster;
  // Addresses and placement: endpoints run here with their IPAM address; other pods that
  // claim this node do not run (no endpoint stands for them).
  std::map<std::string, const EndpointRecord*> by_pod;
  for (const auto& [key, b] : m->bindings) by_pod[b.pod_ref] = &eps.at(key);
  for (auto& p : c.pods) {
    if (p.ip) m->declared_ips[p.ref()] = *p.ip;
    auto it = by_pod.find(p.ref());
    auto r = remote.find(p.ref());
    if (it == by_pod.end() && r != remote.end()) {
      p.ip = r->second.first;
      p.node_name = r->second.second;
    } else if (it != by_pod.end()) {
      p.ip = it->second->ip;
      p.node_name = config.node_name;
    } else if (p.node_name == config.node_name || p.node_name.empty()) {
      p.ip.reset();
      p.node_name = kNoNode;
    }
  }
  addNodes(config, view, *m);
  addPodRoutes(config, c, *m);
  m->engine = std::make_unique<model::Engine>(c);
  return m;
}

dataplane::NodeState desiredNodeState(const AgentConfig& config, const DesiredModel& m,
                                      const dataplane::IdentityStabilizer& ids,
                                      std::map<std::string, EndpointRecord>& eps) {
  dataplane::NodeStateOptions opts{.overlay = config.routing == Routing::Overlay,
                                   .node_ips = m.node_ips,
                                   .default_node = kNoNode,
                                   .identities = &ids};
  dataplane::NodeState st = dataplane::desiredNodeState(*m.engine, config.node_name, opts);
  std::map<std::string, EndpointRecord*> by_pod;
  for (auto& [key, r] : eps) {
    auto b = m.bindings.find(key);
    if (b == m.bindings.end()) continue;
    by_pod[b->second.pod_ref] = &r;
    r.model_pod = b->second.pod_ref;
  }
  // Other nodes' endpoints as their agents publish them: their number is cluster-wide, their
  // node the tunnel endpoint; they replace what the manifests declare for that address.
  for (const auto& [ip, e] : m.remote_endpoints) {
    dataplane::IpcacheEntry entry{.identity = e.identity};
    auto node = m.node_ips.find(e.node);
    if (opts.overlay && node != m.node_ips.end()) {
      entry.tunnel_endpoint = node->second;
      entry.flags = MEMBRANE_IPCACHE_F_HAS_TUNNEL_EP;
    }
    st.ipcache[{.addr = ip, .len = 32}] = entry;
  }
  const model::Cluster& c = m.loaded.cluster;
  for (auto& ep : st.endpoints) {
    auto it = by_pod.find(ep.name);
    if (it == by_pod.end()) continue;
    EndpointRecord& r = *it->second;
    ep.ifindex = static_cast<uint32_t>(r.host_ifindex);
    ep.mac = podMacFor(r.ip);
    ep.node_mac = hostMacFor(r.ip);
    ep.flags = r.policy_audit ? MEMBRANE_ENDPOINT_F_POLICY_AUDIT : 0;
    r.identity = ep.identity;
    const auto slash = ep.name.find('/');
    if (auto p = c.findPod(ep.name.substr(0, slash), ep.name.substr(slash + 1))) {
      r.effective_labels = c.pods[*p].labels;
    }
  }
  return st;
}

}  // namespace membrane::agent
