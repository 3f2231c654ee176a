// SPDX-License-Identifier: Apache-2.0
#include "agent/agent.h"

#include <bpf/bpf.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>

#include "agent/store_source.h"
#include "dataplane/datapath.h"
#include "model/ip.h"

namespace membrane::agent {
namespace fs = std::filesystem;
using dataplane::errnoError;

std::string ipamPath(const AgentConfig& c) { return c.state_dir + "/ipam.json"; }
std::string endpointsPath(const AgentConfig& c) { return c.state_dir + "/endpoints.json"; }
std::string routesPath(const AgentConfig& c) { return c.state_dir + "/routes.json"; }
std::string identitiesPath(const AgentConfig& c) { return c.state_dir + "/identities.json"; }
static std::string mountedMarker(const AgentConfig& c) { return c.state_dir + "/bpffs-mounted"; }

namespace {

dataplane::DatapathConfig datapathConfig(const AgentConfig& c, uint32_t tunnel_ifindex) {
  return {.policy_audit = c.policy_audit,
          .tunnel_ifindex = tunnel_ifindex,
          .tunnel_mac = kVxlanMac,
          .policy_map_size = c.policy_entries,
          .max_endpoints = c.max_endpoints,
          .ipcache_size = c.ipcache_entries,
          .endpoints_size = c.max_endpoints,
          .ct_size = c.ct_entries,
          .events_bytes = 1 << 20,
          .policy_cache_size = 16384,
          .bpffs_root = c.bpffs_dir,
          .pin_subdir = "maps"};
}

bool onBpffs(const std::string& dir) {
  struct statfs st {};
  return statfs(dir.c_str(), &st) == 0 && static_cast<unsigned long>(st.f_type) == BPF_FS_MAGIC;
}

Result<std::map<dataplane::Ipv4Prefix, uint32_t>> loadRoutes(const std::string& path) {
  std::map<dataplane::Ipv4Prefix, uint32_t> out;
  auto text = readFileIfExists(path);
  if (!text) return text.error();
  if (!*text) return out;
  try {
    for (const auto& [dst, via] : nlohmann::json::parse(**text).at("routes").items()) {
      auto p = dataplane::parseIpv4Prefix(dst);
      auto v = model::parseIpv4(via.get<std::string>());
      if (!p || !v) return Error{.code = EINVAL, .context = path + ": bad route " + dst};
      out[*p] = *v;
    }
  } catch (const nlohmann::json::exception& e) {
    return Error{.code = EINVAL, .context = path + ": " + e.what()};
  }
  return out;
}

// The programs this agent runs, pinned under <bpffs>/progs for inspection (bpftool prog
// show pinned ...): the tc filters hold them, the pins name them. A restart re-pins its own.
Status pinPrograms(const AgentConfig& c, const dataplane::Datapath& dp) {
  const std::string dir = c.bpffs_dir + "/progs";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return errnoError(ec.value(), "create " + dir);
  const std::pair<const char*, dataplane::Program> progs[] = {
      {"from_container", dataplane::Program::FromContainer},
      {"to_container", dataplane::Program::ToContainer},
      {"from_overlay", dataplane::Program::FromOverlay}};
  for (const auto& [name, prog] : progs) {
    const std::string path = dir + "/" + name;
    unlink(path.c_str());
    if (bpf_obj_pin(dp.programFd(prog), path.c_str()) != 0) {
      return errnoError(errno, "pin " + path);
    }
  }
  return {};
}

Status saveRoutes(const std::string& path, const std::map<dataplane::Ipv4Prefix, uint32_t>& r) {
  nlohmann::json j;
  j["routes"] = nlohmann::json::object();
  for (const auto& [dst, via] : r) j["routes"][dst.str()] = model::formatIpv4(via);
  return writeFileAtomic(path, j.dump(1) + "\n");
}

}  // namespace

Result<std::unique_ptr<Agent>> Agent::open(const AgentConfig& config,
                                           std::unique_ptr<NodeNet> net) {
  std::unique_ptr<Agent> a(new Agent());
  a->config_ = config;
  a->net_ = std::move(net);
  std::error_code ec;
  fs::create_directories(config.state_dir, ec);
  if (ec) return errnoError(ec.value(), "create state directory " + config.state_dir);
  auto ipam = Ipam::open(ipamPath(config), config.pod_cidr, config.pod_cidr_len,
                         config.allow_requested_outside_pod_cidr);
  if (!ipam) return ipam.error();
  a->ipam_ = std::make_unique<Ipam>(std::move(*ipam));
  auto store = EndpointStore::open(endpointsPath(config));
  if (!store) return store.error();
  a->store_ = std::make_unique<EndpointStore>(std::move(*store));
  auto routes = loadRoutes(routesPath(config));
  if (!routes) return routes.error();
  a->routes_ = std::move(*routes);
  auto ids = readFileIfExists(identitiesPath(config));
  if (!ids) return ids.error();
  if (*ids) {
    try {
      a->saved_ids_ = nlohmann::json::parse(**ids)
                          .at("identities")
                          .get<std::map<std::string, model::IdentityId>>();
    } catch (const nlohmann::json::exception& e) {
      return Error{.code = EINVAL, .context = identitiesPath(config) + ": " + e.what()};
    }
    a->ids_.restore(a->saved_ids_);
  }
  if (auto s = a->loadDatapath(); !s) return s.error();
  return a;
}

Agent::~Agent() = default;

// The VXLAN device first (its ifindex is a load-time constant of the programs), then the
// programs with their pinned maps: existing pins are reused, so nothing is reset.
Status Agent::loadDatapath() {
  uint32_t tunnel = 0;
  if (config_.routing == Routing::Overlay) {
    auto idx = net_->linkIndex(kVxlanName);
    if (!idx) {
      if (auto s = net_->createVxlan(kVxlanName, kVxlanMac, kVxlanPort, 0); !s) return s;
      idx = net_->linkIndex(kVxlanName);
      if (!idx) return errnoError(ENODEV, std::string("no ") + kVxlanName);
    }
    tunnel = static_cast<uint32_t>(*idx);
  }
  if (!config_.bpffs_dir.empty() && !onBpffs(config_.bpffs_dir)) {
    // Remember that this agent mounted bpffs, so that --uninstall unmounts it.
    if (auto s = writeFileAtomic(mountedMarker(config_), config_.bpffs_dir + "\n"); !s) return s;
  }
  auto node = dataplane::NodeAgent::create(datapathConfig(config_, tunnel));
  if (!node) return node.error();
  node_ = std::move(*node);
  net_->bind(&node_->datapath());
  if (!config_.bpffs_dir.empty()) {
    if (auto s = pinPrograms(config_, node_->datapath()); !s) return s;
  }
  if (tunnel != 0) {
    if (auto s = net_->attachOverlay(static_cast<int>(tunnel)); !s) return s;
  }
  if (!config_.socket_lb_cgroup.empty()) {
    // The links live as long as this agent: when it stops, services keep working through the
    // per-packet DNAT of the pinned tc programs.
    auto lb = dataplane::SocketLb::load(node_->datapath());
    if (!lb) return lb.error();
    if (auto s = (*lb)->attach(config_.socket_lb_cgroup); !s) return s;
    socket_lb_ = std::move(*lb);
  }
  const auto up =
      config_.uplink.empty() ? net_->linkHolding(config_.node_ip) : net_->linkIndex(config_.uplink);
  uplink_ = up.value_or(0);
  return {};
}

// Endpoints recorded before a restart: a host veth that still exists is the endpoint
// (its programs are swapped for this agent's, in place); one that is gone (its pod's
// namespace was deleted while the agent was down) is forgotten and its address released.
Status Agent::adopt() {
  std::vector<std::string> gone;
  for (auto& [key, r] : store_->mutableAll()) {
    auto idx = net_->linkIndex(r.host_ifname);
    if (!idx) {
      gone.push_back(key);
      continue;
    }
    r.host_ifindex = *idx;
    if (auto s = net_->attachEndpoint(*idx); !s) return s;
  }
  for (const auto& key : gone) {
    store_->erase(key);
    if (auto s = ipam_->release(key); !s) return s;
  }
  // Addresses without an endpoint: a creation interrupted by a crash.
  std::vector<std::pair<uint32_t, std::string>> orphans;
  for (const auto& [ip, owner] : ipam_->leases()) {
    if (store_->find(owner) == nullptr) orphans.push_back({ip, owner});
  }
  for (const auto& [ip, owner] : orphans) {
    if (auto s = net_->deleteLink(hostIfnameFor(ip)); !s) return s;
    if (auto s = ipam_->release(owner); !s) return s;
  }
  return store_->save();
}

Status Agent::start() {
  std::lock_guard lock(mu_);
  if (auto s = adopt(); !s) {
    fail(s.error().message());
    return s;
  }
  return reconcileLocked(true);
}

Status Agent::reconcile(bool reload) {
  std::lock_guard lock(mu_);
  return reconcileLocked(reload);
}

void Agent::fail(const std::string& what) {
  last_error_ = what;
  if (reconcile_hook_) reconcile_hook_({.ids = &ids_, .seconds = elapsed()});
}

double Agent::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - reconcile_started_)
      .count();
}

void Agent::onReconciled(ReconcileHook hook) {
  std::lock_guard lock(mu_);
  reconcile_hook_ = std::move(hook);
  if (reconcile_hook_ && model_) {
    reconcile_hook_({.model = model_.get(), .ids = &ids_, .replay = true});
  }
}

// The store source: connect what is not connected, then take the mirrored objects. An
// unreachable store with objects read before is no error: the last state stays in force.
Status Agent::readStore() {
  if (auto s = cluster_->refresh(); !s) {
    const std::string msg = "desired state not applied: " + s.error().message;
    fail(msg);
    return Error{.code = EAGAIN, .context = msg};
  }
  auto snap = cluster_->desired();
  manifests_ = std::move(snap.set);
  pending_digest_ = std::move(snap.digest);
  pending_revision_ = snap.revision;
  return {};
}

Status Agent::reconcileLocked(bool reload) {
  reconcile_started_ = std::chrono::steady_clock::now();
  if (reload || !manifests_read_) {
    if (cluster_ != nullptr) {
      if (auto s = readStore(); !s) return s;
    } else {
      manifests_ = readManifests(config_.manifests);
    }
    manifests_read_ = true;
    pending_read_ = true;
  }
  const ClusterView view = cluster_ != nullptr ? cluster_->view() : ClusterView{};
  auto m =
      buildDesiredModel(config_, manifests_, store_->all(), cluster_ ? &view : nullptr, &loads_);
  if (!m->loaded.diags.ok() || !m->engine) {
    // Fail closed: the maps keep the last good state; the error says what to fix.
    std::string msg = "desired state not applied: ";
    msg += m->loaded.diags.errors().empty() ? "no engine" : m->loaded.diags.errors()[0].str();
    fail(msg);
    return Error{.code = EINVAL, .context = msg};
  }
  if (cluster_ != nullptr) forgetLabelNumbers(ids_);  // the store numbers label sets
  ids_.update(m->loaded.cluster);
  // Persisted before the maps use them: a restart keeps every number.
  if (auto s = saveIdentities(); !s) {
    fail(s.error().message());
    return s;
  }
  auto state = desiredNodeState(config_, *m, ids_, store_->mutableAll());
  auto r = node_->reconcile(state);
  if (!r) {
    fail(r.error().message());
    return r.error();
  }
  for (auto& [key, rec] : store_->mutableAll()) {
    rec.id = node_->endpointId(rec.model_pod).value_or(0);
  }
  if (auto s = applyRoutes(*m); !s) {
    fail(s.error().message());
    return s;
  }
  if (r->policies_swapped + r->ipcache_changes + r->endpoints_added + r->endpoints_changed +
          r->endpoints_removed >
      0) {
    ++revision_;
  }
  if (pending_read_) {
    ++generation_;
    applied_digest_ =
        cluster_ != nullptr ? pending_digest_ : manifestDigest(manifests_, config_.manifests);
    applied_revision_ = pending_revision_;
    pending_read_ = false;
  }
  if (cluster_ != nullptr) cluster_->applied(*m, store_->all());
  model_ = std::move(m);
  if (reconcile_hook_) reconcile_hook_({.model = model_.get(), .ids = &ids_, .seconds = elapsed()});
  ready_ = true;
  last_error_.clear();
  last_reconcile_ = std::chrono::system_clock::now();
  return {};
}

// Other nodes' pod CIDRs via their address on the uplink (native routing needs them; the
// overlay redirects in BPF, the routes keep the kernel's answer consistent).
Status Agent::applyRoutes(const DesiredModel& m) {
  std::map<dataplane::Ipv4Prefix, uint32_t> want;
  if (uplink_ != 0) want = m.remote_routes;
  bool changed = false;
  for (const auto& [dst, via] : want) {
    auto it = routes_.find(dst);
    if (it != routes_.end() && it->second == via) continue;
    if (auto s = net_->replaceRoute(dst.addr, dst.len, via, uplink_); !s) return s;
    routes_[dst] = via;
    changed = true;
  }
  for (auto it = routes_.begin(); it != routes_.end();) {
    if (want.count(it->first)) {
      ++it;
      continue;
    }
    if (auto s = net_->deleteRoute(it->first.addr, it->first.len); !s) return s;
    it = routes_.erase(it);
    changed = true;
  }
  return changed ? saveRoutes(routesPath(config_), routes_) : Status{};
}

Status Agent::saveIdentities() {
  if (ids_.assignments() == saved_ids_) return {};
  nlohmann::json j;
  j["identities"] = ids_.assignments();
  if (auto s = writeFileAtomic(identitiesPath(config_), j.dump(1) + "\n"); !s) return s;
  saved_ids_ = ids_.assignments();
  return {};
}

bool Agent::ready() {
  std::lock_guard lock(mu_);
  return ready_;
}

nlohmann::json Agent::status() {
  std::lock_guard lock(mu_);
  auto count = [](dataplane::RawMap& m) -> int64_t {
    auto k = m.keys();
    return k ? static_cast<int64_t>(k->size()) : -1;
  };
  auto& dp = node_->datapath();
  int64_t policies = 0;
  for (const auto& [key, r] : store_->all()) {
    if (r.id == 0) continue;
    auto inner = dp.policyStore().installed(r.id);
    if (inner && *inner) ++policies;
  }
  char when[32] = "";
  if (last_reconcile_.time_since_epoch().count() != 0) {
    const std::time_t t = std::chrono::system_clock::to_time_t(last_reconcile_);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  }
  const size_t identities = model_ ? model_->loaded.cluster.identities.size() : 0;
  return {{"node", config_.node_name},
          {"nodeIP", model::formatIpv4(config_.node_ip)},
          {"podCIDR", cidrStr(config_.pod_cidr, config_.pod_cidr_len)},
          {"routing", routingName(config_.routing)},
          {"ready", ready_},
          {"endpoints", store_->all().size()},
          {"identities", identities},
          {"policyRevision", revision_},
          {"lastReconcile", when},
          {"lastError", last_error_},
          {"maps",
           {{"ipcache", count(dp.ipcache())},
            {"endpoints", count(dp.endpoints())},
            {"conntrack", count(dp.conntrack())},
            {"policy", policies}}},
          {"ipam", {{"allocated", ipam_->allocated()}, {"free", ipam_->available()}}},
          {"desiredState", cluster_ == nullptr ? nlohmann::json{{"source", "directory"},
                                                                {"path", config_.manifests},
                                                                {"generation", generation_},
                                                                {"applied", applied_digest_}}
                                               : nlohmann::json{{"source", "etcd"},
                                                                {"prefix", config_.kvstore.prefix},
                                                                {"generation", generation_},
                                                                {"applied", applied_digest_},
                                                                {"revision", applied_revision_}}},
          {"store", cluster_ != nullptr ? cluster_->status() : nlohmann::json(nullptr)}};
}

Status Agent::uninstall(const AgentConfig& config, NodeNet& net) {
  auto store = EndpointStore::open(endpointsPath(config));
  if (store) {
    for (const auto& [key, r] : store->all()) {
      if (auto s = net.deleteLink(r.host_ifname); !s) return s;
    }
  }
  if (auto routes = loadRoutes(routesPath(config))) {
    for (const auto& [dst, via] : *routes) {
      if (auto s = net.deleteRoute(dst.addr, dst.len); !s) return s;
    }
  }
  if (auto s = net.deleteLink(kVxlanName); !s) return s;
  std::error_code ec;
  // The pins: maps and programs die with their last user (the veths went first).
  for (const char* sub : {"/maps", "/progs"}) {
    fs::remove_all(config.bpffs_dir + sub, ec);
    if (ec) return errnoError(ec.value(), "remove pins under " + config.bpffs_dir + sub);
  }
  auto marker = readFileIfExists(mountedMarker(config));
  if (marker && *marker) umount2(config.bpffs_dir.c_str(), MNT_DETACH);
  fs::remove(config.bpffs_dir, ec);
  for (const auto& p : {ipamPath(config), endpointsPath(config), routesPath(config),
                        identitiesPath(config), mountedMarker(config), config.socket,
                        config.state_dir + "/etcd-lease.json", observerSocketPath(config)}) {
    fs::remove(p, ec);
  }
  fs::remove(config.state_dir, ec);  // only when empty: the operator's files stay
  return {};
}

}  // namespace membrane::agent
