// SPDX-License-Identifier: Apache-2.0
#include "dataplane/policy_writer.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

namespace membrane::dataplane {
namespace {

std::string describe(const model::MapKey& k) {
  return "policy entry {identity " + std::to_string(k.identity) + ", " +
         std::string(model::directionName(k.direction)) + ", proto " + std::to_string(k.protocol) +
         ", port " + std::to_string(k.port) + "/" + std::to_string(k.prefix_len) + "}";
}

uint16_t portMask(uint8_t prefix_len) {
  if (prefix_len <= model::kPrefixProtoOnly) return 0;
  const unsigned bits = prefix_len - model::kPrefixProtoOnly;
  return static_cast<uint16_t>(0xFFFFu << (16 - bits));
}

}  // namespace

Result<PolicyKey> encodePolicyKey(const model::MapKey& key) {
  if (key.prefix_len > model::kPrefixFull) {
    return Error{.code = EINVAL, .context = describe(key) + ": prefix_len above 24"};
  }
  if (key.prefix_len > 0 && key.protocol == 0) {
    return Error{.code = EINVAL, .context = describe(key) + ": protocol 0 with a prefix"};
  }
  PolicyKey out{};
  out.prefixlen = MEMBRANE_POLICY_BASE_PREFIX + key.prefix_len;
  out.sec_label = key.identity;
  out.egress = key.direction == model::Direction::Egress ? 1 : 0;
  out.protocol = key.prefix_len > 0 ? key.protocol : 0;  // unmatched bits are zeroed
  out.dport = htons(static_cast<uint16_t>(key.port & portMask(key.prefix_len)));
  return out;
}

Result<PolicyEntry> encodePolicyEntry(const model::MapValue& value, uint8_t prefix_len) {
  PolicyEntry out{};
  switch (value.verdict) {
    case model::EntryVerdict::Deny:
      out.deny = 1;
      break;
    case model::EntryVerdict::Redirect:
      if (value.proxy_port == 0) {
        return Error{.code = EINVAL, .context = "redirect entry without a proxy port"};
      }
      out.proxy_port = htons(value.proxy_port);
      break;
    case model::EntryVerdict::Allow:
      break;
  }
  out.lpm_prefix_length = prefix_len;
  out.precedence = value.precedence;
  out.cookie = value.cookie;
  return out;
}

model::MapKey decodePolicyKey(const PolicyKey& key) {
  model::MapKey out;
  out.identity = key.sec_label;
  out.direction = key.egress ? model::Direction::Egress : model::Direction::Ingress;
  out.prefix_len = static_cast<uint8_t>(key.prefixlen - MEMBRANE_POLICY_BASE_PREFIX);
  out.protocol = out.prefix_len > 0 ? key.protocol : 0;
  out.port = static_cast<uint16_t>(ntohs(key.dport) & portMask(out.prefix_len));
  return out;
}

model::MapValue decodePolicyEntry(const PolicyEntry& entry) {
  model::MapValue out;
  out.verdict = entry.deny              ? model::EntryVerdict::Deny
                : entry.proxy_port != 0 ? model::EntryVerdict::Redirect
                                        : model::EntryVerdict::Allow;
  out.proxy_port = ntohs(entry.proxy_port);
  out.precedence = entry.precedence;
  out.cookie = entry.cookie;
  return out;
}

// --- kernel store ---------------------------------------------------------------------------

Status bumpRevision(int revision_fd) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  const uint32_t key = MEMBRANE_REVISION_KEY;
  uint32_t rev = 0;
  if (bpf_map_lookup_elem(revision_fd, &key, &rev) != 0) {
    return errnoError(errno, "read datapath revision");
  }
  ++rev;
  if (rev == 0) rev = 1;  // 0 marks entries never reused; wraps after 2^32 changes
  if (bpf_map_update_elem(revision_fd, &key, &rev, BPF_ANY) != 0) {
    return errnoError(errno, "bump datapath revision");
  }
  return {};
}

KernelPolicyMapStore::KernelPolicyMapStore(int outer_fd, int gen_fd, MapSpec inner_spec,
                                           int revision_fd)
    : outer_fd_(outer_fd),
      gen_fd_(gen_fd),
      inner_spec_(std::move(inner_spec)),
      revision_fd_(revision_fd) {}

Status KernelPolicyMapStore::bumpGeneration(uint32_t endpoint_id) {
  Status gen = bumpGenerationOnly(endpoint_id);
  // Also when the generation failed: established flows must see the swap regardless.
  Status rev = revision_fd_ >= 0 ? bumpRevision(revision_fd_) : Status{};
  return !gen ? gen : rev;
}

Status KernelPolicyMapStore::bumpGenerationOnly(uint32_t endpoint_id) {
  if (gen_fd_ < 0) return {};
  uint32_t gen = 0;
  if (bpf_map_lookup_elem(gen_fd_, &endpoint_id, &gen) != 0) {
    return errnoError(errno, "read policy generation of endpoint " + std::to_string(endpoint_id));
  }
  ++gen;  // single writer (the agent); wraps after 2^32 swaps of one endpoint
  if (bpf_map_update_elem(gen_fd_, &endpoint_id, &gen, BPF_ANY) != 0) {
    return errnoError(errno, "bump policy generation of endpoint " + std::to_string(endpoint_id));
  }
  return {};
}

Result<std::shared_ptr<RawMap>> KernelPolicyMapStore::createInner() {
  auto map = KernelMap::create(inner_spec_);
  if (!map) return map.error();
  return std::shared_ptr<RawMap>(std::move(*map));
}

Status KernelPolicyMapStore::install(uint32_t endpoint_id, const std::shared_ptr<RawMap>& inner) {
  int fd = inner->fd();
  if (bpf_map_update_elem(outer_fd_, &endpoint_id, &fd, BPF_ANY) != 0) {
    return errnoError(errno, "install policy map of endpoint " + std::to_string(endpoint_id));
  }
  // After the swap, never before: see lxc_policy_lookup4() in bpf/lib/lxc.h.
  return bumpGeneration(endpoint_id);
}

Status KernelPolicyMapStore::uninstall(uint32_t endpoint_id) {
  if (bpf_map_delete_elem(outer_fd_, &endpoint_id) != 0 && errno != ENOENT) {
    return errnoError(errno, "remove policy map of endpoint " + std::to_string(endpoint_id));
  }
  return bumpGeneration(endpoint_id);
}

Result<std::shared_ptr<RawMap>> KernelPolicyMapStore::installed(uint32_t endpoint_id) {
  uint32_t id = 0;
  if (bpf_map_lookup_elem(outer_fd_, &endpoint_id, &id) != 0) {
    if (errno == ENOENT) return std::shared_ptr<RawMap>();
    return errnoError(errno, "read policy slot of endpoint " + std::to_string(endpoint_id));
  }
  auto map = KernelMap::fromId(id);
  if (!map) return map.error();
  return std::shared_ptr<RawMap>(std::move(*map));
}

Status KernelPolicyMapStore::quiesce() {
  // MEMBARRIER_CMD_GLOBAL is synchronize_rcu(): BPF programs run inside RCU read-side
  // sections, so after it returns none still holds a map pointer obtained before.
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0) return {};
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // nohz_full: no membarrier
  return {};
}

// --- fake store -----------------------------------------------------------------------------

FakePolicyMapStore::FakePolicyMapStore(uint32_t inner_max_entries)
    : inner_max_entries_(inner_max_entries) {}

void FakePolicyMapStore::notify() const {
  if (observer_) observer_();
}

Result<std::shared_ptr<RawMap>> FakePolicyMapStore::createInner() {
  auto map = std::make_shared<FakeMap>("policy_inner_" + std::to_string(created_++),
                                       sizeof(PolicyKey), sizeof(PolicyEntry), inner_max_entries_);
  map->setObserver([this] { notify(); });
  return std::shared_ptr<RawMap>(map);
}

Status FakePolicyMapStore::install(uint32_t endpoint_id, const std::shared_ptr<RawMap>& inner) {
  slots_[endpoint_id] = inner;
  notify();
  return {};
}

Status FakePolicyMapStore::uninstall(uint32_t endpoint_id) {
  slots_.erase(endpoint_id);
  notify();
  return {};
}

Result<std::shared_ptr<RawMap>> FakePolicyMapStore::installed(uint32_t endpoint_id) {
  auto it = slots_.find(endpoint_id);
  return it == slots_.end() ? std::shared_ptr<RawMap>() : it->second;
}

Status FakePolicyMapStore::quiesce() {
  ++quiesce_calls_;
  return {};
}

// --- writer ---------------------------------------------------------------------------------

Result<std::map<model::MapKey, model::MapValue>> readPolicyMap(const RawMap& inner) {
  auto typed = TypedMap<PolicyKey, PolicyEntry>::wrap(const_cast<RawMap&>(inner));
  if (!typed) return typed.error();
  auto entries = typed->entries();
  if (!entries) return entries.error();
  std::map<model::MapKey, model::MapValue> out;
  for (const auto& [k, v] : *entries) out.emplace(decodePolicyKey(k), decodePolicyEntry(v));
  return out;
}

Result<PolicyWriter::Slot*> PolicyWriter::slot(uint32_t endpoint_id) {
  Slot& s = slots_[endpoint_id];
  if (s.loaded) return &s;
  // First use (or agent restart): adopt what the kernel holds as the active policy.
  auto active = store_->installed(endpoint_id);
  if (!active) return active.error();
  if (*active) {
    auto entries = readPolicyMap(**active);
    if (!entries) return entries.error();
    s.active = *active;
    s.active_entries = std::move(*entries);
  }
  s.loaded = true;
  return &s;
}

Result<PolicyChange> PolicyWriter::apply(uint32_t endpoint_id, const model::MapState& desired) {
  // Validate and encode everything first: bad input never reaches a map.
  std::map<model::MapKey, std::pair<PolicyKey, PolicyEntry>> encoded;
  for (const auto& [key, value] : desired.entries) {
    auto k = encodePolicyKey(key);
    if (!k) return k.error();
    auto v = encodePolicyEntry(value, key.prefix_len);
    if (!v) return Error{.code = EINVAL, .context = describe(key) + ": " + v.error().context};
    if (!encoded.emplace(decodePolicyKey(*k), std::make_pair(*k, *v)).second) {
      return Error{.code = EINVAL, .context = describe(key) + ": duplicate after masking"};
    }
  }
  Entries want;
  for (const auto& [key, kv] : encoded) want.emplace(key, decodePolicyEntry(kv.second));

  auto sr = slot(endpoint_id);
  if (!sr) return sr.error();
  Slot& s = **sr;

  PolicyChange change;
  for (const auto& [k, v] : want) {
    auto it = s.active_entries.find(k);
    if (it == s.active_entries.end()) {
      change.added.push_back(k);
    } else if (!(it->second == v)) {
      change.changed.push_back(k);
    }
  }
  for (const auto& [k, v] : s.active_entries) {
    if (!want.contains(k)) change.removed.push_back(k);
  }
  if (change.empty() && s.active) return change;

  if (!s.standby) {
    auto fresh = store_->createInner();
    if (!fresh) return fresh.error();
    s.standby = *fresh;
    s.standby_entries.clear();
    s.standby_was_active = false;
  }
  if (s.standby_was_active) {
    if (auto q = store_->quiesce(); !q) return q.error();
    s.standby_was_active = false;
  }
  // Bring the standby (invisible to packets) from what it holds to `want`.
  // On failure the standby's contents are no longer known: drop it, the next apply starts
  // from a fresh trie. The active policy is untouched either way.
  auto discardStandby = [&s](Error e) {
    s.standby.reset();
    s.standby_entries.clear();
    return e;
  };
  auto typed = TypedMap<PolicyKey, PolicyEntry>::wrap(*s.standby);
  if (!typed) return discardStandby(typed.error());
  for (auto it = s.standby_entries.begin(); it != s.standby_entries.end();) {
    if (want.contains(it->first)) {
      ++it;
      continue;
    }
    auto k = encodePolicyKey(it->first);
    if (auto r = typed->erase(*k); !r) return discardStandby(r.error());
    it = s.standby_entries.erase(it);
  }
  for (const auto& [key, kv] : encoded) {
    auto it = s.standby_entries.find(key);
    const model::MapValue v = decodePolicyEntry(kv.second);
    if (it != s.standby_entries.end() && it->second == v) continue;
    if (auto r = typed->update(kv.first, kv.second); !r) {
      return discardStandby(
          Error{.code = r.error().code, .context = describe(key) + ": " + r.error().context});
    }
    s.standby_entries[key] = v;
  }
  if (auto r = store_->install(endpoint_id, s.standby); !r) return discardStandby(r.error());
  std::swap(s.active, s.standby);
  std::swap(s.active_entries, s.standby_entries);
  s.standby_was_active = s.standby != nullptr;
  change.swapped = true;
  return change;
}

Status PolicyWriter::remove(uint32_t endpoint_id) {
  if (auto r = store_->uninstall(endpoint_id); !r) return r;
  slots_.erase(endpoint_id);
  return {};
}

Result<model::MapState> PolicyWriter::readBack(uint32_t endpoint_id) {
  auto inner = store_->installed(endpoint_id);
  if (!inner) return inner.error();
  model::MapState out;
  if (!*inner) return out;
  auto entries = readPolicyMap(**inner);
  if (!entries) return entries.error();
  out.entries = std::move(*entries);
  return out;
}

model::MapLookup lookupPolicyMap(const RawMap& inner, model::IdentityId peer, model::Direction dir,
                                 uint8_t proto, uint16_t port) {
  auto entries = readPolicyMap(inner);
  if (!entries) return {};
  model::MapState state;
  state.entries = std::move(*entries);
  // The BPF lookup is the model's by construction; what this checks is the encoding.
  return model::lookupMapState(state, peer, dir, proto, port);
}

}  // namespace membrane::dataplane
