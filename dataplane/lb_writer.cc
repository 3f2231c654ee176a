// SPDX-License-Identifier: Apache-2.0
#include "dataplane/lb_writer.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "dataplane/maglev.h"

namespace membrane::dataplane {

namespace {

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;

std::string protoName(uint8_t p) {
  return p == kTcp ? "TCP" : p == kUdp ? "UDP" : std::to_string(p);
}

Error invalid(const LbFrontend& f, const std::string& what) {
  return Error{.code = EINVAL, .context = "service " + f.str() + ": " + what};
}

Error wrap(const Error& e, const std::string& what) {
  return Error{.code = e.code, .context = what + ": " + e.context};
}

// Lowest value in [hint, max] not in `used`, 0 when none; `hint` moves past it. Ids handed
// out in one apply() increase, so a whole apply costs O(n log n), not O(n^2).
uint32_t lowestFree(const std::set<uint32_t>& used, uint32_t& hint, uint32_t max) {
  uint32_t next = std::max<uint32_t>(hint, 1);
  for (auto it = used.lower_bound(next); it != used.end() && *it == next; ++it) ++next;
  hint = next + 1;
  return next <= max ? next : 0;
}

}  // namespace

std::string ipv4String(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

std::string LbFrontend::str() const {
  return ipv4String(vip) + ":" + std::to_string(port) + "/" + protoName(proto);
}

LbKey encodeLbKey(const LbFrontend& f, uint16_t slot) {
  LbKey k{};
  k.address = htonl(f.vip);
  k.dport = htons(f.port);
  k.backend_slot = slot;
  k.proto = f.proto;
  return k;
}

bool LbWriter::Written::operator==(const Written& o) const {
  return rev_nat == o.rev_nat && master.count == o.master.count &&
         master.rev_nat_index == o.master.rev_nat_index && master.flags == o.master.flags &&
         master.algorithm == o.master.algorithm &&
         master.affinity_timeout == o.master.affinity_timeout && slots == o.slots &&
         maglev == o.maglev;
}

// --- Maglev stores --------------------------------------------------------------------------

Result<std::shared_ptr<RawMap>> KernelLbMaglevStore::createInner() {
  auto map = KernelMap::create(MapSpec{.name = "membrane_lb_mag",
                                       .type = BPF_MAP_TYPE_ARRAY,
                                       .key_size = 4,
                                       .value_size = 4,
                                       .max_entries = table_size_,
                                       // as the template in bpf/lib/lb.h, or the kernel
                                       // refuses the inner map (EINVAL)
                                       .flags = BPF_F_RDONLY_PROG | BPF_F_INNER_MAP});
  if (!map) return map.error();
  return std::shared_ptr<RawMap>(std::move(*map));
}

Status KernelLbMaglevStore::install(uint16_t rev_nat, const std::shared_ptr<RawMap>& inner) {
  uint32_t key = rev_nat;
  int fd = inner->fd();
  if (bpf_map_update_elem(outer_fd_, &key, &fd, BPF_ANY) != 0) {
    return errnoError(errno, "install maglev table of service " + std::to_string(rev_nat));
  }
  return {};
}

Status KernelLbMaglevStore::uninstall(uint16_t rev_nat) {
  uint32_t key = rev_nat;
  if (bpf_map_delete_elem(outer_fd_, &key) != 0 && errno != ENOENT) {
    return errnoError(errno, "remove maglev table of service " + std::to_string(rev_nat));
  }
  return {};
}

Result<std::shared_ptr<RawMap>> KernelLbMaglevStore::installed(uint16_t rev_nat) {
  uint32_t key = rev_nat;
  uint32_t id = 0;
  if (bpf_map_lookup_elem(outer_fd_, &key, &id) != 0) {
    if (errno == ENOENT) return std::shared_ptr<RawMap>();
    return errnoError(errno, "read maglev table of service " + std::to_string(rev_nat));
  }
  auto map = KernelMap::fromId(id);
  if (!map) return map.error();
  return std::shared_ptr<RawMap>(std::move(*map));
}

Result<std::shared_ptr<RawMap>> FakeLbMaglevStore::createInner() {
  return std::shared_ptr<RawMap>(std::make_shared<FakeMap>("lb_maglev_inner", 4, 4, table_size_));
}

Status FakeLbMaglevStore::install(uint16_t rev_nat, const std::shared_ptr<RawMap>& inner) {
  slots_[rev_nat] = inner;
  if (observer_) observer_();
  return {};
}

Status FakeLbMaglevStore::uninstall(uint16_t rev_nat) {
  slots_.erase(rev_nat);
  if (observer_) observer_();
  return {};
}

Result<std::shared_ptr<RawMap>> FakeLbMaglevStore::installed(uint16_t rev_nat) {
  auto it = slots_.find(rev_nat);
  return it == slots_.end() ? std::shared_ptr<RawMap>() : it->second;
}

// --- writer ---------------------------------------------------------------------------------

uint16_t LbWriter::revNatOf(const LbFrontend& f) const {
  auto it = services_.find(f);
  return it == services_.end() ? 0 : it->second.rev_nat;
}

uint32_t LbWriter::backendIdOf(uint32_t ip, uint16_t port, uint8_t proto) const {
  auto it = backend_ids_.find({ip, port, proto});
  return it == backend_ids_.end() ? 0 : it->second;
}

Status LbWriter::load() {
  auto svc = TypedMap<LbKey, LbService>::wrap(*maps_.services);
  auto be = TypedMap<uint32_t, LbBackendInfo>::wrap(*maps_.backends);
  if (!svc) return svc.error();
  if (!be) return be.error();
  auto svc_entries = svc->entries();
  auto be_entries = be->entries();
  if (!svc_entries) return svc_entries.error();
  if (!be_entries) return be_entries.error();
  services_.clear();
  backend_ids_.clear();
  backend_states_.clear();
  std::map<LbFrontend, std::map<uint16_t, uint32_t>> slots;
  for (const auto& [k, v] : *svc_entries) {
    LbFrontend f{.vip = ntohl(k.address), .port = ntohs(k.dport), .proto = k.proto};
    if (k.backend_slot != 0) {
      slots[f][k.backend_slot] = v.backend_id;
      continue;
    }
    Written& w = services_[f];
    w.rev_nat = v.rev_nat_index;
    w.master = v;
    w.maglev = v.algorithm == MEMBRANE_LB_ALG_MAGLEV;
  }
  for (auto& [f, w] : services_) {
    // Slots 1..count in order; a gap (an interrupted apply) leaves a shorter list, which
    // differs from any plan and so is rewritten.
    for (uint16_t i = 1; i <= w.master.count && slots[f].contains(i); ++i) {
      w.slots.push_back(slots[f][i]);
    }
  }
  for (const auto& [id, info] : *be_entries) {
    BackendKey k{ntohl(info.address), ntohs(info.port), info.proto};
    backend_ids_[k] = id;
    backend_states_[k] = info.state;
  }
  loaded_ = true;
  return {};
}

Status LbWriter::validate(const ServiceState& desired) const {
  if (desired.size() > 65535) {
    return Error{.code = EINVAL,
                 .context = "services: " + std::to_string(desired.size()) +
                            ", expected at most 65535 (rev-NAT index is 16 bits)"};
  }
  for (const auto& [f, s] : desired) {
    if (f.vip == 0) return invalid(f, "vip: expected an IPv4 address other than 0.0.0.0");
    if (f.port == 0) return invalid(f, "port: expected 1..65535");
    if (f.proto != kTcp && f.proto != kUdp) return invalid(f, "protocol: expected TCP or UDP");
    if (s.algorithm == LbAlgorithm::Maglev && maps_.maglev == nullptr) {
      return invalid(f, "algorithm Maglev: no Maglev table map on this datapath");
    }
    if (s.backends.size() > 65535) return invalid(f, "backends: expected at most 65535");
    std::set<std::pair<uint32_t, uint16_t>> seen;
    for (const LbBackend& b : s.backends) {
      const std::string name = ipv4String(b.ip) + ":" + std::to_string(b.port);
      if (b.ip == 0 || b.port == 0) {
        return invalid(f, "backend " + name + ": expected a non-zero address and port");
      }
      if (!seen.insert({b.ip, b.port}).second) return invalid(f, "duplicate backend " + name);
    }
  }
  return {};
}

Result<std::map<LbWriter::BackendKey, uint8_t>> LbWriter::writeBackends(const ServiceState& desired,
                                                                        LbChange& c, bool demote) {
  std::map<BackendKey, uint8_t> want;  // active in any service wins
  for (const auto& [f, s] : desired) {
    for (const LbBackend& b : s.backends) {
      const uint8_t st = static_cast<uint8_t>(b.state);
      auto [it, fresh] = want.try_emplace(BackendKey{b.ip, b.port, f.proto}, st);
      if (!fresh) it->second = std::min(it->second, st);
    }
  }
  std::set<uint32_t> used;
  for (const auto& [k, id] : backend_ids_) used.insert(id);
  uint32_t hint = 1;
  auto be = TypedMap<uint32_t, LbBackendInfo>::wrap(*maps_.backends);
  if (!be) return be.error();
  for (const auto& [k, st] : want) {
    auto id_it = backend_ids_.find(k);
    if (id_it != backend_ids_.end() && backend_states_[k] == st) continue;
    // Active -> terminating only once no slot names the backend any more (second pass).
    const bool demotion = id_it != backend_ids_.end() && st != MEMBRANE_LB_BACKEND_ACTIVE;
    if (demotion != demote) continue;
    uint32_t id = id_it != backend_ids_.end() ? id_it->second
                                              : lowestFree(used, hint, MEMBRANE_LB_BACKENDS_SIZE);
    if (id == 0) return Error{.code = ENOSPC, .context = "lb backends: no free backend id"};
    LbBackendInfo info{};
    info.address = htonl(k.ip);
    info.port = htons(k.port);
    info.proto = k.proto;
    info.state = st;
    if (auto r = be->update(id, info); !r) {
      return wrap(r.error(), "backend " + ipv4String(k.ip) + ":" + std::to_string(k.port));
    }
    used.insert(id);
    backend_ids_[k] = id;
    backend_states_[k] = st;
    ++c.backends_written;
  }
  return want;
}

Result<LbWriter::Written> LbWriter::plan(const LbFrontend& f, const LbServiceSpec& s) {
  Written w;
  auto it = services_.find(f);
  if (it != services_.end()) {
    w.rev_nat = it->second.rev_nat;
  } else {
    w.rev_nat = static_cast<uint16_t>(lowestFree(rev_nat_used_, rev_nat_hint_, 65535));
    if (w.rev_nat == 0) return Error{.code = ENOSPC, .context = "service " + f.str() + ": no id"};
    rev_nat_used_.insert(w.rev_nat);
  }
  std::vector<BackendKey> active;
  for (const LbBackend& b : s.backends) {
    if (b.state == LbBackendState::Active) active.push_back({b.ip, b.port, f.proto});
  }
  std::sort(active.begin(), active.end());  // slot order independent of input order
  for (const BackendKey& k : active) w.slots.push_back(backend_ids_.at(k));
  w.maglev = s.algorithm == LbAlgorithm::Maglev;
  w.master.count = static_cast<uint16_t>(w.slots.size());
  w.master.rev_nat_index = w.rev_nat;
  w.master.algorithm = static_cast<uint8_t>(s.algorithm);
  w.master.flags = s.affinity_timeout_s > 0 ? MEMBRANE_LB_F_AFFINITY : 0;
  w.master.affinity_timeout = s.affinity_timeout_s;
  return w;
}

namespace {

// A new inner table filled completely before it is installed: the datapath sees the old table
// or the new one, never a half-written one.
Result<std::shared_ptr<RawMap>> buildMaglev(LbMaglevStore& store, uint32_t table_size,
                                            const LbFrontend& f, const LbServiceSpec& s,
                                            const std::vector<uint32_t>& ids_in_key_order) {
  std::vector<std::pair<uint32_t, uint16_t>> active;
  for (const LbBackend& b : s.backends) {
    if (b.state == LbBackendState::Active) active.emplace_back(b.ip, b.port);
  }
  std::sort(active.begin(), active.end());
  std::vector<MaglevBackend> mb;
  for (size_t i = 0; i < active.size(); ++i) {
    mb.push_back({.identity = ipv4String(active[i].first) + ":" + std::to_string(active[i].second) +
                              "/" + protoName(f.proto),
                  .id = ids_in_key_order[i]});
  }
  auto table = maglevTable(std::move(mb), table_size);
  if (!table) return wrap(table.error(), "service " + f.str());
  auto inner = store.createInner();
  if (!inner) return wrap(inner.error(), "service " + f.str() + ": maglev table");
  auto typed = TypedMap<uint32_t, uint32_t>::wrap(**inner);
  if (!typed) return typed.error();
  for (uint32_t i = 0; i < table->size(); ++i) {
    if (auto r = typed->update(i, (*table)[i]); !r) {
      return wrap(r.error(), "service " + f.str() + ": maglev slot " + std::to_string(i));
    }
  }
  return *inner;
}

}  // namespace

Status LbWriter::writeService(const LbFrontend& f, const Written& w, const LbServiceSpec& s) {
  auto svc = TypedMap<LbKey, LbService>::wrap(*maps_.services);
  auto rn = TypedMap<uint16_t, LbRevNat>::wrap(*maps_.rev_nat);
  if (!svc) return svc.error();
  if (!rn) return rn.error();
  const auto old = services_.find(f);
  const size_t old_slots = old == services_.end() ? 0 : old->second.slots.size();
  const bool old_maglev = old != services_.end() && old->second.maglev;
  LbRevNat rev{};
  rev.address = htonl(f.vip);
  rev.port = htons(f.port);
  if (auto r = rn->update(w.rev_nat, rev); !r) return wrap(r.error(), "service " + f.str());
  if (w.maglev && !w.slots.empty()) {
    auto inner = buildMaglev(*maps_.maglev, maps_.maglev_table_size, f, s, w.slots);
    if (!inner) return inner.error();
    if (auto r = maps_.maglev->install(w.rev_nat, *inner); !r) return r;
  }
  for (size_t i = 0; i < w.slots.size(); ++i) {
    LbService slot{};
    slot.backend_id = w.slots[i];
    slot.rev_nat_index = w.rev_nat;
    if (auto r = svc->update(encodeLbKey(f, static_cast<uint16_t>(i + 1)), slot); !r) {
      return wrap(r.error(), "service " + f.str() + " slot " + std::to_string(i + 1));
    }
  }
  if (auto r = svc->update(encodeLbKey(f, 0), w.master); !r) {
    return wrap(r.error(), "service " + f.str());
  }
  // Past the new count, slots are no longer reachable: stale ones go only now.
  for (size_t i = w.slots.size(); i < old_slots; ++i) {
    if (auto r = svc->erase(encodeLbKey(f, static_cast<uint16_t>(i + 1))); !r) return r.error();
  }
  if (old_maglev && (!w.maglev || w.slots.empty())) {
    if (auto r = maps_.maglev->uninstall(w.rev_nat); !r) return r;
  }
  services_[f] = w;
  return {};
}

Status LbWriter::removeService(const LbFrontend& f) {
  auto svc = TypedMap<LbKey, LbService>::wrap(*maps_.services);
  auto rn = TypedMap<uint16_t, LbRevNat>::wrap(*maps_.rev_nat);
  if (!svc) return svc.error();
  if (!rn) return rn.error();
  const Written& w = services_.at(f);
  // The master first: from then on the VIP is no service, and nothing reads the rest.
  for (size_t i = 0; i <= w.slots.size(); ++i) {
    if (auto r = svc->erase(encodeLbKey(f, static_cast<uint16_t>(i))); !r) {
      return wrap(r.error(), "remove service " + f.str());
    }
  }
  if (w.maglev && maps_.maglev != nullptr) {
    if (auto r = maps_.maglev->uninstall(w.rev_nat); !r) return r;
  }
  if (auto r = rn->erase(w.rev_nat); !r) return wrap(r.error(), "remove service " + f.str());
  services_.erase(f);
  return {};
}

Status LbWriter::removeBackends(const std::map<BackendKey, uint8_t>& keep, LbChange& c) {
  auto be = TypedMap<uint32_t, LbBackendInfo>::wrap(*maps_.backends);
  if (!be) return be.error();
  for (auto it = backend_ids_.begin(); it != backend_ids_.end();) {
    if (keep.contains(it->first)) {
      ++it;
      continue;
    }
    if (auto r = be->erase(it->second); !r) {
      return wrap(r.error(), "remove backend " + ipv4String(it->first.ip));
    }
    backend_states_.erase(it->first);
    it = backend_ids_.erase(it);
    ++c.backends_removed;
  }
  return {};
}

Result<LbChange> LbWriter::apply(const ServiceState& desired) {
  if (auto v = validate(desired); !v) return v.error();
  if (!loaded_) {
    if (auto r = load(); !r) return r.error();
  }
  LbChange c;
  auto fail = [this](const Error& e) -> Result<LbChange> {
    loaded_ = false;  // the maps may be between states: re-read before the next apply
    return e;
  };
  rev_nat_used_.clear();
  for (const auto& [g, o] : services_) rev_nat_used_.insert(o.rev_nat);
  rev_nat_hint_ = 1;
  auto keep = writeBackends(desired, c, false);
  if (!keep) return fail(keep.error());
  for (const auto& [f, s] : desired) {
    auto w = plan(f, s);
    if (!w) return fail(w.error());
    auto cur = services_.find(f);
    if (cur != services_.end() && cur->second == *w) continue;
    if (auto r = writeService(f, *w, s); !r) return fail(r.error());
    c.upserted.push_back(f);
  }
  std::vector<LbFrontend> gone;
  for (const auto& [f, w] : services_) {
    if (!desired.contains(f)) gone.push_back(f);
  }
  for (const LbFrontend& f : gone) {
    if (auto r = removeService(f); !r) return fail(r.error());
    c.removed.push_back(f);
  }
  if (auto r = writeBackends(desired, c, true); !r) return fail(r.error());
  if (auto r = removeBackends(*keep, c); !r) return fail(r.error());
  return c;
}

Result<ServiceState> LbWriter::readBack() const {
  auto svc = TypedMap<LbKey, LbService>::wrap(*maps_.services);
  auto be = TypedMap<uint32_t, LbBackendInfo>::wrap(*maps_.backends);
  if (!svc) return svc.error();
  if (!be) return be.error();
  auto entries = svc->entries();
  if (!entries) return entries.error();
  ServiceState out;
  for (const auto& [k, v] : *entries) {
    if (k.backend_slot != 0) continue;
    LbFrontend f{.vip = ntohl(k.address), .port = ntohs(k.dport), .proto = k.proto};
    LbServiceSpec& s = out[f];
    s.algorithm = static_cast<LbAlgorithm>(v.algorithm);
    s.affinity_timeout_s = (v.flags & MEMBRANE_LB_F_AFFINITY) ? v.affinity_timeout : 0;
    for (uint16_t i = 1; i <= v.count; ++i) {
      auto slot = svc->lookup(encodeLbKey(f, i));
      if (!slot) return slot.error();
      if (!*slot) return Error{.code = ENOENT, .context = "service " + f.str() + ": slot gap"};
      auto info = be->lookup((*slot)->backend_id);
      if (!info) return info.error();
      if (!*info) return Error{.code = ENOENT, .context = "service " + f.str() + ": no backend"};
      s.backends.push_back(
          {.ip = ntohl((*info)->address), .port = ntohs((*info)->port), .state = {}, .node = {}});
    }
    std::sort(s.backends.begin(), s.backends.end(), [](const LbBackend& a, const LbBackend& b) {
      return std::pair(a.ip, a.port) < std::pair(b.ip, b.port);
    });
  }
  return out;
}

}  // namespace membrane::dataplane
