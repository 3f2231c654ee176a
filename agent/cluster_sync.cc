// SPDX-License-Identifier: Apache-2.0
// ClusterStore (agent/store_source.h): the session, what this node publishes, the mirrors.
#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "agent/state.h"
#include "agent/store_source.h"
#include "model/ip.h"

namespace membrane::agent {
namespace kv = kvstore;

namespace {

std::string leasePath(const AgentConfig& c) { return c.state_dir + "/etcd-lease.json"; }

int64_t savedLease(const AgentConfig& c) {
  auto text = readFileIfExists(leasePath(c));
  if (!text || !*text) return 0;
  auto j = nlohmann::json::parse(**text, nullptr, false);
  return j.is_object() ? j.value("lease", int64_t{0}) : 0;
}

std::string hex(int64_t v) {
  char b[24];
  std::snprintf(b, sizeof(b), "%llx", static_cast<unsigned long long>(v));
  return b;
}

}  // namespace

kv::Result<std::unique_ptr<ClusterStore>> ClusterStore::open(const AgentConfig& config,
                                                             std::function<void()> on_change) {
  std::unique_ptr<ClusterStore> s(new ClusterStore(config));
  auto client = kv::Client::create(clientConfig(config.kvstore));
  if (!client) return client.error();
  s->client_ = *client;
  s->objects_ = std::make_unique<PrefixMirror>(s->client_, s->layout_.objects(), on_change);
  s->nodes_ = std::make_unique<PrefixMirror>(s->client_, s->layout_.node(""), on_change);
  s->ipcache_ = std::make_unique<PrefixMirror>(s->client_, s->layout_.ipcache(""), on_change);
  return s;
}

// The mirrors stop first (their callbacks wake the agent); the session is kept alive in etcd
// (not revoked): a restart within the TTL takes it back, a node that is gone loses it.
ClusterStore::~ClusterStore() {
  objects_.reset();
  nodes_.reset();
  ipcache_.reset();
  ids_->unbind();
  if (session_) session_->abandon();
}

void ClusterStore::note(const kv::Error& e) {
  std::lock_guard l(mu_);
  last_error_ = e.message;
  if (e.code == kv::ErrorCode::Unavailable) reachable_ = false;
}

void ClusterStore::noteOk() {
  std::lock_guard l(mu_);
  reachable_ = true;
}

// A session that is alive, else a new one: the saved lease when etcd still has it (a restart
// within the TTL keeps every key), else a fresh lease with everything published again.
kv::Status ClusterStore::ensureSession() {
  if (session_ && session_->alive()) return kv::Ok{};
  session_ok_ = false;
  ids_->unbind();
  if (session_) session_->abandon();
  session_.reset();
  auto s = kv::Session::create(client_, config_.kvstore.lease_ttl, savedLease(config_));
  if (!s) return s.error();
  const int64_t lease = (*s)->lease();
  if (auto w = writeFileAtomic(leasePath(config_), nlohmann::json{{"lease", lease}}.dump() + "\n");
      !w) {
    return kv::Error{kv::ErrorCode::Internal, w.error().message()};
  }
  session_ = std::move(*s);
  node_published_ = false;
  published_.clear();
  dirty_ = true;
  std::string err;
  if (!ids_->rebind(*session_, layout_,
                    {.node = config_.node_name,
                     .cluster_id = config_.cluster_id,
                     .gc_grace = std::chrono::seconds(config_.kvstore.identity_gc_grace)},
                    &err)) {
    return kv::Error{kv::ErrorCode::Unavailable, err};
  }
  session_ok_ = true;
  return kv::Ok{};
}

kv::Status ClusterStore::refresh() {
  kv::Status first = kv::Ok{};
  auto step = [&](const kv::Status& s) {
    if (!s) {
      note(s.error());
      if (first) first = s;
    }
  };
  step(ensureSession());
  for (auto* m : {objects_.get(), nodes_.get(), ipcache_.get()}) step(m->sync());
  // Not before the first reconcile: until then this node's endpoints are unknown, and a
  // restarted agent would withdraw (then publish again) entries the others use.
  // Nor while the watches are down: a write would only wait for its deadline (under the
  // agent's lock); the watches' return wakes the agent.
  if (first && session_ && dirty_ && reconciled_ && objects_->connected()) step(publish());
  if (first) noteOk();
  if (!objects_->synced()) {
    return kv::Error{kv::ErrorCode::Unavailable,
                     "desired objects not read from etcd yet: " +
                         (first ? std::string("no answer") : first.error().message)};
  }
  return kv::Ok{};
}

DesiredSnapshot ClusterStore::desired() const {
  DesiredSnapshot out;
  std::map<std::string, std::string> rel;
  const std::string& p = layout_.prefix();
  out.set.pod_refs.emplace();
  for (auto& [key, value] : objects_->items()) {
    const std::string identity = layout_.objectIdentityOf(key);  // Kind/ns/name
    if (identity.rfind("Pod/", 0) == 0) out.set.pod_refs->insert(identity.substr(4));
    rel[key.substr(p.size())] = value;
    out.set.texts.push_back({.name = "etcd:" + key, .text = value});
  }
  out.digest = storeDigest(rel);
  out.revision = objects_->revision();
  return out;
}

ClusterView ClusterStore::view() const {
  ClusterView v{.identities = ids_};
  for (const auto& [key, value] : nodes_->items()) {
    auto n = kv::decodeNode(value);
    if (!n) continue;  // not ours to repair; the others still count
    auto ip = model::parseIpv4(n->ip);
    if (!ip) continue;
    auto tunnel = n->tunnel_endpoint.empty() ? ip : model::parseIpv4(n->tunnel_endpoint);
    ClusterView::Node node{.ip = tunnel.value_or(*ip), .via = *ip};
    if (auto cidr = dataplane::parseIpv4Prefix(n->pod_cidr)) node.pod_cidr = *cidr;
    v.nodes[n->name] = node;
  }
  for (const auto& [key, value] : ipcache_->items()) {
    auto e = kv::decodeEndpoint(value);
    auto ip = e ? model::parseIpv4(e->ip) : std::nullopt;
    if (!ip) continue;
    ClusterView::Endpoint ep{.identity = e->identity, .node = e->node};
    // The pod's name and labels (agents of this version add them; older records lack them).
    auto j = nlohmann::json::parse(value, nullptr, false);
    if (j.is_object() && j.value("pod", nlohmann::json()).is_string() &&
        j.value("labels", nlohmann::json()).is_object()) {
      ep.pod = j["pod"].get<std::string>();
      for (const auto& [k, lv] : j["labels"].items()) {
        if (lv.is_string()) ep.labels[k] = lv.get<std::string>();
      }
    }
    v.endpoints[*ip] = std::move(ep);
  }
  return v;
}

void forgetLabelNumbers(dataplane::IdentityStabilizer& ids) {
  auto a = ids.assignments();
  std::erase_if(a, [](const auto& kvp) { return kvp.first.rfind("labels:", 0) == 0; });
  if (a.size() != ids.assignments().size()) ids.restore(a);
}

void ClusterStore::applied(const DesiredModel& m,
                           const std::map<std::string, EndpointRecord>& endpoints) {
  std::map<uint32_t, std::string> local;
  for (const auto& [key, r] : endpoints) {
    if (r.identity == 0) continue;
    nlohmann::json j = nlohmann::json::parse(kv::encodeEndpoint(
        {.ip = model::formatIpv4(r.ip), .identity = r.identity, .node = config_.node_name}));
    j["pod"] = r.model_pod;
    j["labels"] = r.effective_labels;
    local[r.ip] = j.dump();
  }
  std::set<std::string> used;
  for (const auto& [num, id] : m.loaded.cluster.identities) {
    if (id.kind == model::IdentityKind::Cluster) used.insert(id.labels.str());
  }
  afterReconcile(local, used);
}

void ClusterStore::afterReconcile(const std::map<uint32_t, std::string>& local,
                                  const std::set<std::string>& labels_used) {
  ids_->keepOnly(labels_used);
  std::map<std::string, std::string> want;
  for (const auto& [ip, value] : local) want[model::formatIpv4(ip)] = value;
  if (want != want_ || !reconciled_) dirty_ = true;
  want_ = std::move(want);
  reconciled_ = true;
  if (dirty_ && session_ && session_->alive() && objects_->connected()) {
    if (auto s = publish(); !s) note(s.error());
  }
}

// Puts what changed, deletes what this node no longer has (also entries of this node left
// from before a restart), under the session's lease.
kv::Status ClusterStore::publish() {
  kv::Registry reg(*session_, layout_);
  if (!node_published_) {
    auto r = reg.publishNode({.name = config_.node_name,
                              .ip = model::formatIpv4(config_.node_ip),
                              .pod_cidr = cidrStr(config_.pod_cidr, config_.pod_cidr_len),
                              // Only an address other nodes can reach is worth publishing.
                              .observer = loopbackListenAddress(config_.observer_listen)
                                              ? ""
                                              : config_.observer_listen});
    if (!r) return r.error();
    node_published_ = true;
  }
  for (const auto& [ip, value] : want_) {
    if (published_.count(ip) && published_[ip] == value) continue;
    // kv::encodeEndpoint's fields plus the pod's name and labels (Registry writes only the
    // former): same key, same lease.
    auto r = session_->client().put(layout_.ipcache(ip), value, session_->lease());
    if (!r) return r.error();
    published_[ip] = value;
  }
  std::set<std::string> gone;
  for (const auto& [ip, value] : published_) {
    if (!want_.count(ip)) gone.insert(ip);
  }
  for (const auto& [key, value] : ipcache_->items()) {
    auto e = kv::decodeEndpoint(value);
    if (e && e->node == config_.node_name && !want_.count(e->ip)) gone.insert(e->ip);
  }
  for (const auto& ip : gone) {
    auto r = reg.withdrawEndpoint(ip);
    if (!r) return r.error();
    published_.erase(ip);
  }
  dirty_ = false;
  noteOk();
  return kv::Ok{};
}

int ClusterStore::collectGarbageIfDue() {
  using namespace std::chrono;
  const milliseconds interval = std::clamp<milliseconds>(
      seconds(config_.kvstore.identity_gc_grace) / 2, seconds(1), minutes(1));
  auto now = steady_clock::now();
  if (session_ok_ && now - last_gc_ >= interval) {
    last_gc_ = now;
    auto g = ids_->collectGarbage();
    if (!g) {
      note(g.error());
    } else {
      std::lock_guard l(mu_);
      identities_collected_ += *g;
      ++gc_passes_;
    }
    now = steady_clock::now();
  }
  const auto left = duration_cast<milliseconds>(last_gc_ + interval - now).count();
  return static_cast<int>(std::clamp<int64_t>(left, 10, 60000));
}

bool ClusterStore::pending() const { return dirty_ || !session_ok_ || !objects_->synced(); }

nlohmann::json ClusterStore::status() const {
  std::lock_guard l(mu_);
  const bool watching = objects_->connected() && nodes_->connected() && ipcache_->connected();
  return {{"endpoints", config_.kvstore.endpoints},
          {"prefix", config_.kvstore.prefix},
          {"reachable", reachable_ && watching},
          {"lastError", last_error_},
          {"revision", objects_->revision()},
          {"lease", session_ ? hex(session_->lease()) : ""},
          {"nodes", nodes_->items().size()},
          {"ipcache", ipcache_->items().size()},
          {"identitiesHeld", ids_->held().size()},
          {"identityGC", {{"passes", gc_passes_}, {"collected", identities_collected_}}}};
}

}  // namespace membrane::agent
