// SPDX-License-Identifier: Apache-2.0
#include "kvstore/objects.h"

#include <map>

namespace membrane::kvstore {

namespace pb = etcdserverpb;

namespace {

// The current mod_revision of every key (0 = absent), read at one store revision.
Result<std::map<std::string, int64_t>> currentRevisions(Client& c, const Layout& l,
                                                        const std::vector<ObjectWrite>& objs) {
  std::map<std::string, int64_t> revs;
  pb::TxnRequest t;  // a read-only txn: every key at one revision, one round trip
  for (const auto& o : objs)
    t.add_success()->mutable_request_range()->set_key(l.object(o.identity));
  auto r = c.txn(t);
  if (!r) return r.error();
  for (const auto& o : objs) revs[l.object(o.identity)] = 0;
  for (const auto& op : r->responses()) {
    for (const auto& kv : op.response_range().kvs()) revs[kv.key()] = kv.mod_revision();
  }
  return revs;
}

// Which objects' revisions differ from what the transaction compared (after it failed).
std::string describeMismatches(Client& c, const Layout& l, const std::vector<ObjectWrite>& objs,
                               const std::map<std::string, int64_t>& compared, bool deleting) {
  auto now = currentRevisions(c, l, objs);
  if (!now) return now.error().message;
  std::string out;
  for (const auto& o : objs) {
    const std::string key = l.object(o.identity);
    const int64_t want = compared.at(key), have = now->at(key);
    if (deleting && have == 0) {
      out += "\n  " + o.origin + ": " + o.identity + ": not found";
    } else if (want != have && !(deleting && want == -1)) {
      out += "\n  " + o.origin + ": " + o.identity + ": expected resourceVersion " +
             std::to_string(want) + ", the store has " + std::to_string(have) +
             (have == 0 ? " (deleted)" : "") + "; get it again and reapply";
    }
  }
  return out;
}

}  // namespace

Result<int64_t> applyObjects(Client& c, const Layout& l, const std::vector<ObjectWrite>& objs) {
  auto read = currentRevisions(c, l, objs);
  if (!read) return read.error();
  std::map<std::string, int64_t> compared;
  pb::TxnRequest t;
  for (const auto& o : objs) {
    const std::string key = l.object(o.identity);
    const int64_t expect = o.expected_revision >= 0 ? o.expected_revision : read->at(key);
    compared[key] = expect;
    auto* cmp = t.add_compare();
    cmp->set_key(key);
    cmp->set_target(pb::Compare::MOD);
    cmp->set_result(pb::Compare::EQUAL);
    cmp->set_mod_revision(expect);
    auto* put = t.add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(o.yaml);
  }
  auto r = c.txn(t);
  if (!r) return r.error();
  if (!r->succeeded()) {
    return Error{ErrorCode::Conflict,
                 "conflict, nothing written:" + describeMismatches(c, l, objs, compared, false)};
  }
  return r->header().revision();
}

Result<int64_t> deleteObjects(Client& c, const Layout& l, const std::vector<ObjectWrite>& objs) {
  std::map<std::string, int64_t> compared;
  pb::TxnRequest t;
  for (const auto& o : objs) {
    const std::string key = l.object(o.identity);
    auto* cmp = t.add_compare();
    cmp->set_key(key);
    if (o.expected_revision >= 0) {
      cmp->set_target(pb::Compare::MOD);
      cmp->set_result(pb::Compare::EQUAL);
      cmp->set_mod_revision(o.expected_revision);
    } else {  // must exist: deleting what is not there is an error, as with kubectl
      cmp->set_target(pb::Compare::VERSION);
      cmp->set_result(pb::Compare::GREATER);
      cmp->set_version(0);
    }
    compared[key] = o.expected_revision;
    t.add_success()->mutable_request_delete_range()->set_key(key);
  }
  auto r = c.txn(t);
  if (!r) return r.error();
  if (!r->succeeded()) {
    const std::string why = describeMismatches(c, l, objs, compared, true);
    const bool missing = why.find(": not found") != std::string::npos;
    return Error{missing ? ErrorCode::NotFound : ErrorCode::Conflict, "nothing deleted:" + why};
  }
  return r->header().revision();
}

Result<std::vector<StoredObject>> listObjects(Client& c, const Layout& l, const std::string& kind,
                                              const std::string& ns, const std::string& name) {
  auto r = c.getPrefix(kind.empty() ? l.objects() : l.objectsOfKind(kind));
  if (!r) return r.error();
  std::vector<StoredObject> out;
  for (const auto& kv : r->kvs) {
    const std::string id = l.objectIdentityOf(kv.key);
    // "Kind/ns/name" or "Kind/name": the last part is the name, a middle part the namespace.
    const auto first = id.find('/'), last = id.rfind('/');
    const std::string obj_name = id.substr(last + 1);
    const std::string obj_ns = first == last ? "" : id.substr(first + 1, last - first - 1);
    if (!name.empty() && obj_name != name) continue;
    if (!ns.empty() && !obj_ns.empty() && obj_ns != ns) continue;
    out.push_back({.identity = id, .yaml = kv.value, .revision = kv.mod_revision});
  }
  return out;
}

}  // namespace membrane::kvstore
