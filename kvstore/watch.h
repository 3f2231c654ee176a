// SPDX-License-Identifier: Apache-2.0
// A watch on a key prefix that survives reconnects: it remembers the revision of the last
// event it delivered and, when the stream breaks (etcd restarted, a member lost), opens a
// new one from the next revision on the next endpoint. So no event is missed and none is
// delivered twice, as long as etcd has not compacted the revisions in between (then the
// status callback says Compacted and the owner must re-read the prefix).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "kvstore/client.h"

namespace membrane::kvstore {

struct WatchEvent {
  enum class Type { Put, Delete };
  Type type = Type::Put;
  KeyValue kv;  // for a delete: key and mod_revision (the revision of the delete) only
};

enum class WatchState { Connected, Disconnected, Compacted };

struct WatchOptions {
  std::string prefix;
  int64_t from_revision = 0;  // first revision delivered; 0 = from now on
  // Called from the watch thread, in revision order; events of one revision come together.
  std::function<void(const std::vector<WatchEvent>&, int64_t revision)> on_events;
  std::function<void(WatchState, const std::string& detail)> on_state;  // optional
  std::chrono::milliseconds retry{200};
};

class Watch {
 public:
  static Result<std::unique_ptr<Watch>> start(std::shared_ptr<Client> client, WatchOptions o);
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  // The revision the next delivered event will have at least (last delivered + 1, or the
  // revision a progress notification vouched for + 1).
  int64_t nextRevision() const;
  size_t reconnects() const;

 private:
  Watch(std::shared_ptr<Client> c, WatchOptions o) : client_(std::move(c)), opt_(std::move(o)) {}
  void loop();
  // One stream on `endpoint`; returns false when the watch must stop (stopped or compacted).
  bool runStream(size_t endpoint);
  void state(WatchState s, const std::string& detail);

  std::shared_ptr<Client> client_;
  WatchOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int64_t next_revision_ = 0;
  size_t reconnects_ = 0;
  grpc::ClientContext* ctx_ = nullptr;
  std::thread thread_;
};

}  // namespace membrane::kvstore
