// SPDX-License-Identifier: Apache-2.0
#include "agent/store_source.h"

#include <charconv>
#include <cstdio>

#include "agent/state.h"
#include "model/ip.h"

namespace membrane::agent {
namespace kv = kvstore;

bool Trigger::wait(int timeout_ms) {
  std::unique_lock l(mu_);
  cv_.wait_for(l, std::chrono::milliseconds(timeout_ms), [this] { return fired_; });
  const bool fired = fired_;
  fired_ = false;
  return fired;
}

void Trigger::wake() {
  {
    std::lock_guard l(mu_);
    fired_ = true;
  }
  cv_.notify_all();
}

// ---- PrefixMirror ----

PrefixMirror::~PrefixMirror() { watch_.reset(); }

kv::Status PrefixMirror::sync() {
  {
    std::lock_guard l(mu_);
    if (synced_ && watch_) return kv::Ok{};
  }
  watch_.reset();  // a compacted watch: its thread has ended
  auto list = client_->getPrefix(prefix_);
  if (!list) return list.error();
  {
    std::lock_guard l(mu_);
    items_.clear();
    for (const auto& kvp : list->kvs) items_[kvp.key] = kvp.value;
    revision_ = list->revision;
  }
  kv::WatchOptions o{.prefix = prefix_,
                     .from_revision = list->revision + 1,
                     .on_events = [this](const auto& ev, int64_t rev) { onEvents(ev, rev); },
                     .on_state = [this](kv::WatchState s, const std::string&) { onState(s); }};
  auto w = kv::Watch::start(client_, std::move(o));
  if (!w) return w.error();
  watch_ = std::move(*w);
  std::lock_guard l(mu_);
  synced_ = true;
  connected_ = true;
  return kv::Ok{};
}

void PrefixMirror::onEvents(const std::vector<kv::WatchEvent>& events, int64_t revision) {
  {
    std::lock_guard l(mu_);
    for (const auto& e : events) {
      if (e.type == kv::WatchEvent::Type::Put) {
        items_[e.kv.key] = e.kv.value;
      } else {
        items_.erase(e.kv.key);
      }
    }
    revision_ = std::max(revision_, revision);
    connected_ = true;
  }
  on_change_();
}

// Only a change wakes the agent: the watch retries every 200 ms while etcd is down.
void PrefixMirror::onState(kv::WatchState s) {
  bool changed = false;
  {
    std::lock_guard l(mu_);
    changed = connected_ != (s == kv::WatchState::Connected) || s == kv::WatchState::Compacted;
    connected_ = s == kv::WatchState::Connected;
    if (s == kv::WatchState::Compacted) synced_ = false;  // the next sync() lists again
  }
  if (changed) on_change_();
}

bool PrefixMirror::synced() const {
  std::lock_guard l(mu_);
  return synced_;
}

bool PrefixMirror::connected() const {
  std::lock_guard l(mu_);
  return connected_;
}

int64_t PrefixMirror::revision() const {
  std::lock_guard l(mu_);
  return revision_;
}

std::map<std::string, std::string> PrefixMirror::items() const {
  std::lock_guard l(mu_);
  return items_;
}

std::string storeDigest(const std::map<std::string, std::string>& objects) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](const std::string& bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 1099511628211ULL;
    }
    h *= 1099511628211ULL;  // the NUL separator
  };
  for (const auto& [key, value] : objects) {
    mix(key);
    mix(value);
  }
  char out[17];
  std::snprintf(out, sizeof(out), "%016llx", static_cast<unsigned long long>(h));
  return out;
}

// ---- CachingAllocator ----

model::Allocation CachingAllocator::allocate(const std::string& labels) {
  std::lock_guard l(mu_);
  if (auto it = cache_.find(labels); it != cache_.end()) return {.id = it->second};
  if (!inner_) return {.error = "identity of " + labels + ": etcd not reachable yet"};
  auto a = inner_->allocate(labels);
  if (a.ok()) cache_[labels] = a.id;
  return a;
}

void CachingAllocator::release(const std::string& labels) {
  std::lock_guard l(mu_);
  if (cache_.erase(labels) && inner_) inner_->release(labels);
}

bool CachingAllocator::rebind(kv::Session& session, const kv::Layout& layout,
                              const kv::EtcdAllocatorConfig& cfg, std::string* error) {
  std::lock_guard l(mu_);
  inner_ = std::make_unique<kv::EtcdIdentityAllocator>(session, layout, cfg);
  // The references of the label sets held: bound to the new lease. Numbers are not leased,
  // so they come back the same (unless garbage-collected meanwhile: then the new one wins).
  for (auto& [labels, id] : cache_) {
    auto a = inner_->allocate(labels);
    if (!a.ok()) {
      *error = a.error;
      inner_.reset();
      return false;
    }
    id = a.id;
  }
  return true;
}

kv::Result<size_t> CachingAllocator::collectGarbage() {
  std::lock_guard l(mu_);
  if (!inner_) return size_t{0};
  return inner_->collectGarbage();
}

void CachingAllocator::unbind() {
  std::lock_guard l(mu_);
  inner_.reset();
}

void CachingAllocator::keepOnly(const std::set<std::string>& used) {
  std::lock_guard l(mu_);
  for (auto it = cache_.begin(); it != cache_.end();) {
    if (used.count(it->first)) {
      ++it;
      continue;
    }
    if (inner_) inner_->release(it->first);
    it = cache_.erase(it);
  }
}

std::map<std::string, model::IdentityId> CachingAllocator::held() const {
  std::lock_guard l(mu_);
  return cache_;
}

}  // namespace membrane::agent
