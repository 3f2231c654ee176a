// SPDX-License-Identifier: Apache-2.0
#include "dataplane/agent.h"

#include <sstream>

#include "dataplane/lb_services.h"

namespace membrane::dataplane {

namespace {

// The simulator has no L7 proxy: a redirect entry without a listener port is enforced as
// the allow it implies at L3/L4 (the datapath rejects proxy port 0).
model::MapState withoutProxy(model::MapState s) {
  for (auto& [key, value] : s.entries) {
    if (value.verdict == model::EntryVerdict::Redirect && value.proxy_port == 0) {
      value.verdict = model::EntryVerdict::Allow;
      value.precedence = model::kPrecedenceAllow;
    }
  }
  return s;
}

std::string identityKey(const model::Identity& id) {
  if (id.kind == model::IdentityKind::Cidr && id.cidr) return "cidr:" + id.cidr->str();
  return "labels:" + id.labels.str();
}

}  // namespace

void IdentityStabilizer::update(const model::Cluster& cluster) {
  current_.clear();
  for (const auto& [num, id] : cluster.identities) {
    if (id.kind == model::IdentityKind::Reserved) continue;
    const std::string key = identityKey(id);
    auto it = by_key_.find(key);
    if (it == by_key_.end()) {
      model::IdentityId pick = num;
      if (owner_.count(pick)) {
        // Taken by another label set: the next free number of the same scope.
        const model::IdentityId scope = num & 0xff000000u;
        auto last = owner_.upper_bound(scope | 0x00ffffffu);
        pick = scope | model::kMinimalAllocatedIdentity;
        if (last != owner_.begin() && std::prev(last)->first >= pick) {
          pick = std::prev(last)->first + 1;
        }
      }
      it = by_key_.emplace(key, pick).first;
      owner_[pick] = key;
    }
    current_[num] = it->second;
  }
}

void IdentityStabilizer::restore(const std::map<std::string, model::IdentityId>& assignments) {
  by_key_ = assignments;
  owner_.clear();
  for (const auto& [key, id] : by_key_) owner_[id] = key;
}

model::IdentityId IdentityStabilizer::operator()(model::IdentityId id) const {
  auto it = current_.find(id);
  return it == current_.end() ? id : it->second;
}

NodeState desiredNodeState(const model::Engine& engine, const std::string& node,
                           const NodeStateOptions& options) {
  const model::Cluster& cluster = engine.cluster();
  auto stable = [&](model::IdentityId id) {
    return options.identities != nullptr ? (*options.identities)(id) : id;
  };
  NodeState out;
  for (const auto& [cidr, id] : engine.ipcache(node)) {
    if (cidr.ipv6) continue;
    IpcacheEntry e{.identity = stable(id)};
    if (options.overlay && cidr.len == 32) {
      if (auto pod = cluster.findPodByIp(cidr.addr)) {
        const std::string& on = cluster.pods[*pod].node_name.empty() ? options.default_node
                                                                     : cluster.pods[*pod].node_name;
        auto ip = options.node_ips.find(on);
        if (on != node && ip != options.node_ips.end()) {
          e.tunnel_endpoint = ip->second;
          e.flags = MEMBRANE_IPCACHE_F_HAS_TUNNEL_EP;
        }
      }
    }
    out.ipcache[{.addr = cidr.addr, .len = cidr.len}] = e;
  }
  for (const auto& [name, ip] : options.node_ips) {
    Ipv4Prefix p{.addr = ip, .len = 32};
    if (out.ipcache.count(p)) continue;
    out.ipcache[p] = {.identity = name == node ? model::kIdentityHost : model::kIdentityRemoteNode};
  }
  for (size_t i = 0; i < cluster.pods.size(); ++i) {
    const model::Pod& pod = cluster.pods[i];
    const std::string& on = pod.node_name.empty() ? options.default_node : pod.node_name;
    if (on != node || !pod.ip) continue;
    model::MapState policy = withoutProxy(engine.compile(i));
    if (options.identities != nullptr) {
      model::MapState translated = policy;
      translated.entries.clear();
      for (const auto& [key, value] : policy.entries) {
        model::MapKey k = key;
        if (k.identity != 0) k.identity = stable(k.identity);
        translated.entries[k] = value;
      }
      policy = std::move(translated);
    }
    out.endpoints.push_back({.name = pod.ref(),
                             .ip = *pod.ip,
                             .identity = stable(pod.identity),
                             .policy = std::move(policy)});
  }
  out.services = servicesFromCluster(cluster, node, options.default_node);
  return out;
}

std::string ReconcileStats::str() const {
  std::ostringstream o;
  o << "endpoints +" << endpoints_added << " -" << endpoints_removed << " ~" << endpoints_changed
    << ", policies swapped " << policies_swapped << " (" << policy_entries_changed
    << " entries), ipcache changes " << ipcache_changes << ", services changed "
    << services_changed;
  return o.str();
}

Result<std::unique_ptr<NodeAgent>> NodeAgent::create(const DatapathConfig& config) {
  auto dp = Datapath::load(config);
  if (!dp) return dp.error();
  std::unique_ptr<NodeAgent> a(new NodeAgent());
  a->dp_ = std::move(*dp);
  a->policy_ = std::make_unique<PolicyWriter>(a->dp_->policyStore());
  a->ipcache_ = std::make_unique<IpcacheWriter>(a->dp_->ipcache());
  a->endpoints_ = std::make_unique<EndpointWriter>(a->dp_->endpoints());
  a->services_ = std::make_unique<LbWriter>(a->dp_->lbMaps());
  auto existing = a->endpoints_->readBack();
  if (!existing) return existing.error();
  for (const auto& [ip, e] : *existing) {
    a->recovered_[ip] = e.endpoint_id;
    a->next_id_ = std::max<uint16_t>(a->next_id_, static_cast<uint16_t>(e.endpoint_id + 1));
  }
  return a;
}

std::optional<uint16_t> NodeAgent::endpointId(const std::string& name) const {
  auto it = ids_.find(name);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

uint16_t NodeAgent::allocateId(const std::string& name, uint32_t ip) {
  if (auto it = ids_.find(name); it != ids_.end()) return it->second;
  uint16_t id = 0;
  if (auto r = recovered_.find(ip); r != recovered_.end()) {
    id = r->second;  // the id this endpoint had before a restart
    recovered_.erase(r);
  } else if (!free_ids_.empty()) {
    id = *free_ids_.begin();
    free_ids_.erase(free_ids_.begin());
  } else {
    id = next_id_++;
  }
  ids_[name] = id;
  return id;
}

Result<ReconcileStats> NodeAgent::reconcile(const NodeState& desired) {
  ReconcileStats stats;
  std::map<std::string, const AgentEndpoint*> want;
  for (const auto& ep : desired.endpoints) want[ep.name] = &ep;
  if (want.size() >= dp_->config().max_endpoints) {
    return Error{.code = ENOSPC, .context = "more endpoints than max_endpoints"};
  }
  // (1) policies, each swapped atomically.
  for (const auto& [name, ep] : want) {
    const uint16_t id = allocateId(name, ep->ip);
    auto cur = current_.find(name);
    if (cur != current_.end() && cur->second.policy.entries == ep->policy.entries) continue;
    auto change = policy_->apply(id, ep->policy);
    if (!change) return change.error();
    stats.policies_swapped += change->swapped ? 1 : 0;
    stats.policy_entries_changed += change->size();
  }
  // (2) ipcache.
  auto ic = ipcache_->apply(desired.ipcache);
  if (!ic) return ic.error();
  stats.ipcache_changes = ic->upserted.size() + ic->removed.size();
  // (3) endpoints. Counted by what the writer actually wrote (after a restart the kernel
  // may already hold them).
  EndpointState eps;
  for (const auto& [name, ep] : want) {
    eps[ep->ip] = {.endpoint_id = ids_.at(name),
                   .identity = ep->identity,
                   .ifindex = ep->ifindex,
                   .flags = ep->flags,
                   .mac = ep->mac,
                   .node_mac = ep->node_mac};
  }
  auto ec = endpoints_->apply(eps);
  if (!ec) return ec.error();
  const std::set<uint32_t> written(ec->upserted.begin(), ec->upserted.end());
  for (const auto& [name, ep] : want) {
    if (!written.count(ep->ip)) continue;
    ++(current_.count(name) ? stats.endpoints_changed : stats.endpoints_added);
  }
  // (3b) services.
  auto sc = services_->apply(desired.services);
  if (!sc) return sc.error();
  stats.services_changed = sc->upserted.size() + sc->removed.size();
  // (4) endpoints that left: their policy slots and ids.
  for (auto it = current_.begin(); it != current_.end();) {
    if (want.count(it->first)) {
      ++it;
      continue;
    }
    const uint16_t id = ids_.at(it->first);
    if (auto r = policy_->remove(id); !r) return r.error();
    free_ids_.insert(id);
    ids_.erase(it->first);
    it = current_.erase(it);
    ++stats.endpoints_removed;
  }
  // Endpoints the kernel held before a restart that are no longer wanted.
  for (const auto& [ip, id] : recovered_) {
    if (auto r = policy_->remove(id); !r) return r.error();
    ++stats.endpoints_removed;
  }
  recovered_.clear();
  for (const auto& [name, ep] : want) current_[name] = *ep;
  return stats;
}

}  // namespace membrane::dataplane
