// SPDX-License-Identifier: Apache-2.0
// The etcd facade against real etcd processes: CAS transactions, sessions, watch resume.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "kvstore/session.h"
#include "kvstore/watch.h"
#include "tests/support/etcd_harness.h"

namespace membrane::kvstore {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<test::EtcdCluster> startEtcd(int members) {
  std::string err;
  auto c = test::EtcdCluster::start(members, &err);
  EXPECT_NE(c, nullptr) << err;
  return c;
}

std::shared_ptr<Client> connect(const ClientConfig& cfg) {
  auto c = Client::create(cfg);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : nullptr;
}

// Collects watch events; waits on a condition, never a fixed sleep.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::string, int64_t>> seen;  // key (prefixed "-" for deletes), revision
  void add(const std::vector<WatchEvent>& evs) {
    std::lock_guard l(mu);
    for (const auto& e : evs) {
      seen.emplace_back((e.type == WatchEvent::Type::Delete ? "-" : "") + e.kv.key,
                        e.kv.mod_revision);
    }
    cv.notify_all();
  }
  bool waitFor(size_t n, std::chrono::milliseconds t = 20s) {
    std::unique_lock l(mu);
    return cv.wait_for(l, t, [&] { return seen.size() >= n; });
  }
  std::vector<std::string> keys() {
    std::lock_guard l(mu);
    std::vector<std::string> k;
    for (auto& [key, rev] : seen) k.push_back(key);
    return k;
  }
};

TEST(Client, PutGetAndCompareAndSwap) {
  auto etcd = startEtcd(1);
  ASSERT_NE(etcd, nullptr);
  auto c = connect(etcd->clientConfig());
  ASSERT_NE(c, nullptr);
  auto created = c->txnPutIfRevision("a/x", "1", 0);
  ASSERT_TRUE(created.ok()) << created.error().message;
  // Creating again must conflict: the key exists now.
  auto again = c->txnPutIfRevision("a/x", "2", 0);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::Conflict);
  EXPECT_NE(again.error().message.find("found " + std::to_string(*created)), std::string::npos)
      << again.error().message;
  auto updated = c->txnPutIfRevision("a/x", "3", *created);
  ASSERT_TRUE(updated.ok());
  auto got = c->get("a/x");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->value, "3");
  EXPECT_EQ((*got)->mod_revision, *updated);
  EXPECT_FALSE(c->txnDeleteIfRevision("a/x", *created).ok());
  EXPECT_TRUE(c->txnDeleteIfRevision("a/x", *updated).ok());
  auto gone = c->get("a/x");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
}

TEST(Client, UnreachableIsAnErrorValue) {
  auto c = connect({.endpoints = {"http://127.0.0.1:1"}, .request_timeout = 500ms});
  ASSERT_NE(c, nullptr);
  auto r = c->get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::Unavailable);
  auto bad = Client::create({.endpoints = {"127.0.0.1:2379"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::InvalidArgument);
  auto no_ca = Client::create({.endpoints = {"https://127.0.0.1:2379"}});
  EXPECT_FALSE(no_ca.ok());
  auto missing = Client::create(
      {.endpoints = {"https://127.0.0.1:2379"}, .tls = {.ca_file = "/nonexistent/ca.pem"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent/ca.pem"), std::string::npos);
}

TEST(Client, TlsWithClientCertificate) {
  std::string err;
  auto etcd = test::EtcdCluster::start(1, &err, /*tls=*/true);
  ASSERT_NE(etcd, nullptr) << err;
  auto cfg = etcd->clientConfig();
  ASSERT_TRUE(cfg.endpoints[0].starts_with("https://"));
  auto c = connect(cfg);
  ASSERT_NE(c, nullptr);
  auto put = c->put("tls/k", "v");
  ASSERT_TRUE(put.ok()) << put.error().message;
  auto got = c->get("tls/k");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->value, "v");
  // Without a client certificate etcd refuses the connection (client-cert-auth).
  auto no_cert = cfg;
  no_cert.tls.cert_file.clear();
  no_cert.tls.key_file.clear();
  no_cert.request_timeout = 1000ms;
  auto anon = connect(no_cert);
  ASSERT_NE(anon, nullptr);
  EXPECT_FALSE(anon->get("tls/k").ok());
}

TEST(Session, KeysOfARevokedOrExpiredLeaseDisappear) {
  auto etcd = startEtcd(1);
  ASSERT_NE(etcd, nullptr);
  auto c = connect(etcd->clientConfig());
  {
    auto s = Session::create(c, 2);
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_TRUE(c->put("node/a", "x", (*s)->lease()).ok());
    // Kept alive past its TTL by the keepalive thread: wait on the lease, not a clock.
    for (int i = 0; i < 30; ++i) {
      auto ttl = c->leaseTimeToLive((*s)->lease());
      ASSERT_TRUE(ttl.ok());
      ASSERT_GT(*ttl, 0);
      std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE((*s)->alive());
  }  // revoked
  auto gone = c->get("node/a");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());

  auto s2 = Session::create(c, 2);
  ASSERT_TRUE(s2.ok());
  const int64_t lease = (*s2)->lease();
  ASSERT_TRUE(c->put("node/b", "y", lease).ok());
  (*s2)->abandon();  // a crashed agent: no revoke, the lease runs out
  bool expired = false;
  for (int i = 0; i < 100 && !expired; ++i) {
    auto v = c->get("node/b");
    ASSERT_TRUE(v.ok());
    expired = !v->has_value();
    if (!expired) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(expired) << "key of an abandoned lease still there after 10 s (TTL 2 s)";
}

TEST(Watch, ResumesAfterEtcdRestartWithoutDuplicates) {
  auto etcd = startEtcd(1);
  ASSERT_NE(etcd, nullptr);
  auto c = connect(etcd->clientConfig());
  Recorder rec;
  auto w = Watch::start(c, {.prefix = "p/", .on_events = [&](auto& ev, int64_t) { rec.add(ev); }});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(c->put("p/1", "a").ok());
  ASSERT_TRUE(c->put("other", "x").ok());
  ASSERT_TRUE(c->put("p/2", "b").ok());
  ASSERT_TRUE(rec.waitFor(2));
  etcd->kill(0);
  std::string err;
  ASSERT_TRUE(etcd->restart(0, &err)) << err;
  ASSERT_TRUE(c->put("p/3", "c").ok());
  ASSERT_TRUE(c->txnDeleteIfRevision("p/1", (*c->get("p/1"))->mod_revision).ok());
  ASSERT_TRUE(rec.waitFor(4));
  EXPECT_GE((*w)->reconnects(), 1u);
  EXPECT_EQ(rec.keys(), (std::vector<std::string>{"p/1", "p/2", "p/3", "-p/1"}));
}

TEST(Watch, ThreeMembersLosingTheWatchedOneMissesNothing) {
  auto etcd = startEtcd(3);
  ASSERT_NE(etcd, nullptr);
  // The watcher prefers member 0; the writer talks to member 1 only.
  auto watcher = connect(etcd->clientConfig());
  auto writer = connect({.endpoints = {etcd->member(1).clientUrl()}});
  Recorder rec;
  auto w =
      Watch::start(watcher, {.prefix = "p/", .on_events = [&](auto& ev, int64_t) { rec.add(ev); }});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(writer->put("p/a", "1").ok());
  ASSERT_TRUE(rec.waitFor(1));
  etcd->kill(0);
  // Written while the watcher's stream is broken: it must see them after it moves on.
  for (int i = 0; i < 5; ++i) {
    // Member 0 may have been the leader: the first writes may wait out an election.
    Result<int64_t> put = Error{};
    for (int k = 0; k < 10 && !put.ok(); ++k) put = writer->put("p/b" + std::to_string(i), "x");
    ASSERT_TRUE(put.ok()) << put.error().message;
  }
  ASSERT_TRUE(rec.waitFor(6));
  std::string err;
  ASSERT_TRUE(etcd->restart(0, &err)) << err;
  ASSERT_TRUE(writer->put("p/c", "1").ok());
  ASSERT_TRUE(rec.waitFor(7));
  EXPECT_EQ(rec.keys(),
            (std::vector<std::string>{"p/a", "p/b0", "p/b1", "p/b2", "p/b3", "p/b4", "p/c"}));
  // Reads keep working through the client's other endpoints with member 0 down or back.
  auto v = watcher->get("p/c");
  ASSERT_TRUE(v.ok() && v->has_value());
}

}  // namespace
}  // namespace membrane::kvstore
