// SPDX-License-Identifier: Apache-2.0
// A session (clientv3/concurrency.Session): one lease kept alive by a background thread.
// Everything a node owns (its node key, its endpoints, its identity references) is written
// with this lease, so it disappears by itself when the node stops renewing it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "kvstore/client.h"

namespace membrane::kvstore {

class Session {
 public:
  // Grants a lease of `ttl_seconds` (or takes over `existing_lease` when it is still alive, so
  // a restarted agent keeps its keys) and starts renewing it every ttl/3.
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<Client> client,
                                                 int64_t ttl_seconds, int64_t existing_lease = 0);
  ~Session();  // stops the keepalive and revokes the lease
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  int64_t lease() const { return lease_; }
  // False once etcd said the lease expired (its keys are gone); a session does not come back.
  bool alive() const { return alive_.load(); }
  // Stops renewing without revoking: the lease runs out after its TTL (a crashed agent).
  void abandon();
  Client& client() { return *client_; }

 private:
  Session(std::shared_ptr<Client> c, int64_t lease, int64_t ttl)
      : client_(std::move(c)), lease_(lease), ttl_(ttl) {}
  void keepAliveLoop();
  bool keepAliveOnce(size_t endpoint);  // one stream: false when the lease is gone
  void stop();

  std::shared_ptr<Client> client_;
  int64_t lease_;
  int64_t ttl_;
  std::atomic<bool> alive_{true};
  std::atomic<bool> abandoned_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  grpc::ClientContext* stream_ctx_ = nullptr;  // guarded by mu_; cancelled on stop
  std::thread thread_;
};

}  // namespace membrane::kvstore
