// SPDX-License-Identifier: Apache-2.0
#include "kvstore/identity_allocator.h"

#include <charconv>
#include <set>

namespace membrane::kvstore {

namespace pb = etcdserverpb;

namespace {

std::optional<model::IdentityId> parseId(const std::string& s) {
  model::IdentityId id = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return id;
}

void put(pb::TxnRequest& t, const std::string& key, const std::string& value, int64_t lease) {
  auto* p = t.add_success()->mutable_request_put();
  p->set_key(key);
  p->set_value(value);
  p->set_lease(lease);
}

void compare(pb::TxnRequest& t, const std::string& key, pb::Compare::CompareTarget target,
             int64_t v) {
  auto* c = t.add_compare();
  c->set_key(key);
  c->set_target(target);
  c->set_result(pb::Compare::EQUAL);
  if (target == pb::Compare::MOD) {
    c->set_mod_revision(v);
  } else {
    c->set_version(v);
  }
}

}  // namespace

// Takes a reference on the existing identity of `labels`; nullopt when there is none (or it
// changed under us: the caller tries again).
Result<std::optional<model::IdentityId>> EtcdIdentityAllocator::reference(
    const std::string& labels) {
  Client& c = session_.client();
  const std::string lkey = layout_.identityByLabels(labels);
  auto cur = c.get(lkey);
  if (!cur) return cur.error();
  if (!cur->has_value()) return std::optional<model::IdentityId>();
  auto id = parseId((*cur)->value);
  if (!id) return Error{ErrorCode::Internal, lkey + ": not an identity number: " + (*cur)->value};
  pb::TxnRequest t;
  compare(t, lkey, pb::Compare::MOD, (*cur)->mod_revision);
  put(t, lkey, (*cur)->value, 0);  // the rewrite a concurrent GC compares against
  put(t, layout_.identityRef(*id, cfg_.node), "", session_.lease());
  auto r = c.txn(t);
  if (!r) return r.error();
  if (!r->succeeded()) return std::optional<model::IdentityId>();
  return std::optional<model::IdentityId>(*id);
}

// Creates the identity of `labels` with the smallest free local number; nullopt when another
// allocator created the label set or took that number first (the caller tries again).
Result<std::optional<model::IdentityId>> EtcdIdentityAllocator::create(const std::string& labels) {
  Client& c = session_.client();
  auto used = c.getPrefix(layout_.identitiesById());
  if (!used) return used.error();
  std::set<model::IdentityId> taken;
  for (const auto& kv : used->kvs) {
    if (auto id = parseId(kv.key.substr(layout_.identitiesById().size()))) taken.insert(*id);
  }
  model::IdentityId local = model::kMinimalAllocatedIdentity;
  while (taken.count(model::composeIdentity(cfg_.cluster_id, local))) ++local;
  if (local > model::kMaxLocalIdPerCluster) {
    return Error{ErrorCode::Internal,
                 "identity space of cluster " + std::to_string(cfg_.cluster_id) + " exhausted"};
  }
  const model::IdentityId id = model::composeIdentity(cfg_.cluster_id, local);
  const std::string lkey = layout_.identityByLabels(labels), ikey = layout_.identityById(id);
  pb::TxnRequest t;
  compare(t, lkey, pb::Compare::VERSION, 0);  // create-if-absent, both directions
  compare(t, ikey, pb::Compare::VERSION, 0);
  put(t, ikey, labels, 0);
  put(t, lkey, std::to_string(id), 0);
  put(t, layout_.identityRef(id, cfg_.node), "", session_.lease());
  auto r = c.txn(t);
  if (!r) return r.error();
  if (!r->succeeded()) return std::optional<model::IdentityId>();
  return std::optional<model::IdentityId>(id);
}

model::Allocation EtcdIdentityAllocator::allocate(const std::string& labels) {
  // Every failed round means another allocator wrote first; that cannot go on for long.
  for (int round = 0; round < 100; ++round) {
    for (auto step : {&EtcdIdentityAllocator::reference, &EtcdIdentityAllocator::create}) {
      auto r = (this->*step)(labels);
      if (!r) return {.error = r.error().message};
      if (r->has_value()) return {.id = **r};
    }
  }
  return {.error = "identity of \"" + labels + "\": too much contention (100 rounds)"};
}

void EtcdIdentityAllocator::release(const std::string& labels) {
  Client& c = session_.client();
  auto cur = c.get(layout_.identityByLabels(labels));
  if (!cur || !cur->has_value()) return;
  if (auto id = parseId((*cur)->value)) {
    pb::TxnRequest t;
    t.add_success()->mutable_request_delete_range()->set_key(layout_.identityRef(*id, cfg_.node));
    (void)c.txn(t);
  }
}

Result<size_t> EtcdIdentityAllocator::collectGarbage() {
  Client& c = session_.client();
  auto ids = c.getPrefix(layout_.identitiesById());
  if (!ids) return ids.error();
  auto refs = c.getPrefix(layout_.identityRefsAll());
  if (!refs) return refs.error();
  std::set<model::IdentityId> referenced;
  for (const auto& kv : refs->kvs) {
    const std::string rest = kv.key.substr(layout_.identityRefsAll().size());
    if (auto id = parseId(rest.substr(0, rest.find('/')))) referenced.insert(*id);
  }
  const auto now = std::chrono::steady_clock::now();
  size_t deleted = 0;
  std::lock_guard l(mu_);
  for (const auto& kv : ids->kvs) {
    auto id = parseId(kv.key.substr(layout_.identitiesById().size()));
    if (!id) continue;
    if (referenced.count(*id)) {
      unreferenced_since_.erase(*id);
      continue;
    }
    auto [it, fresh] = unreferenced_since_.try_emplace(*id, now);
    if (fresh || now - it->second < cfg_.gc_grace) continue;
    // Read the labels key first, then the references: a reference taken after this read
    // rewrote the labels key, so the compare below fails and the identity survives.
    const std::string lkey = layout_.identityByLabels(kv.value);
    auto lab = c.get(lkey);
    if (!lab) return lab.error();
    auto again = c.getPrefix(layout_.identityRefs(*id));
    if (!again) return again.error();
    if (!again->kvs.empty()) continue;
    pb::TxnRequest t;
    compare(t, kv.key, pb::Compare::MOD, kv.mod_revision);
    if (lab->has_value() && (*lab)->value == std::to_string(*id)) {
      compare(t, lkey, pb::Compare::MOD, (*lab)->mod_revision);
      t.add_success()->mutable_request_delete_range()->set_key(lkey);
    }
    t.add_success()->mutable_request_delete_range()->set_key(kv.key);
    auto r = c.txn(t);
    if (!r) return r.error();
    if (r->succeeded()) ++deleted;
    unreferenced_since_.erase(it);
  }
  return deleted;
}

}  // namespace membrane::kvstore
