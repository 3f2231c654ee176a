// SPDX-License-Identifier: Apache-2.0
// A small facade over etcd's v3 gRPC API (in the spirit of clientv3): several endpoints tried
// in turn, optional TLS, every call with a deadline, errors as values. Leases live in
// kvstore/session.h, watches in kvstore/watch.h; both are built on this client.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "kvstore/error.h"

namespace membrane::kvstore {

struct TlsConfig {
  std::string ca_file;    // PEM CA bundle that signed the servers' certificates
  std::string cert_file;  // client certificate (PEM), with key_file, for client-cert auth
  std::string key_file;
  bool enabled() const { return !ca_file.empty() || !cert_file.empty() || !key_file.empty(); }
};

struct ClientConfig {
  // "http://host:port" or "https://host:port" (https needs tls); tried in this order, the
  // client stays on the one that answered last.
  std::vector<std::string> endpoints = {"http://127.0.0.1:2379"};
  TlsConfig tls;
  std::chrono::milliseconds request_timeout{5000};
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;  // the store revision of the last write of this key
  int64_t version = 0;
  int64_t lease = 0;  // 0 = bound to no lease
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  int64_t revision = 0;  // the store revision the read saw
};

// The first key after every key that starts with `prefix` (etcd's range_end for a prefix).
std::string prefixRangeEnd(const std::string& prefix);
KeyValue fromProto(const mvccpb::KeyValue& kv);

class Client {
 public:
  // Checks the configuration (URLs, TLS files readable) and builds the channels; it does not
  // wait for etcd to answer (a store that is down now may come back).
  static Result<std::shared_ptr<Client>> create(ClientConfig config);

  Result<std::optional<KeyValue>> get(const std::string& key);
  Result<RangeResult> getPrefix(const std::string& prefix);
  // Returns the revision of the write.
  Result<int64_t> put(const std::string& key, const std::string& value, int64_t lease = 0);
  // Compare-and-swap: writes only when the key's mod_revision is `expected` (0: the key must
  // not exist). Conflict otherwise, with the revision found.
  Result<int64_t> txnPutIfRevision(const std::string& key, const std::string& value,
                                   int64_t expected, int64_t lease = 0);
  // Deletes only when the key's mod_revision is `expected`; Conflict otherwise.
  Result<int64_t> txnDeleteIfRevision(const std::string& key, int64_t expected);
  // Number of keys deleted (0 or 1 for del).
  Result<int64_t> del(const std::string& key);
  Result<int64_t> deletePrefix(const std::string& prefix);
  Result<etcdserverpb::TxnResponse> txn(const etcdserverpb::TxnRequest& req);
  Result<etcdserverpb::StatusResponse> status();

  Result<int64_t> leaseGrant(int64_t ttl_seconds);  // the lease id
  Status leaseRevoke(int64_t lease);
  Result<int64_t> leaseTimeToLive(int64_t lease);  // seconds left; -1 when expired

  const ClientConfig& config() const { return config_; }
  size_t endpointCount() const { return channels_.size(); }
  // The channel of endpoint `i` (watch and keepalive streams pick their own).
  std::shared_ptr<grpc::Channel> channel(size_t i) const;
  // Replaces endpoint `i`'s channel when it is in TRANSIENT_FAILURE (see client.cc).
  void reconnect(size_t i);
  size_t preferredEndpoint() const;
  void setPreferredEndpoint(size_t i);

 private:
  explicit Client(ClientConfig config) : config_(std::move(config)) {}
  // Runs `call(stub, ctx)` on the preferred endpoint, then on the others while the answer is
  // "unavailable"; the first endpoint that answers becomes the preferred one.
  template <typename Call>
  grpc::Status unary(Call&& call);

  std::shared_ptr<grpc::Channel> newChannel(const std::string& target) const;
  Result<int64_t> deleteRange(const std::string& key, const std::string& end);

  ClientConfig config_;
  std::shared_ptr<grpc::ChannelCredentials> creds_;
  std::vector<std::string> targets_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;  // guarded by mu_
  mutable std::mutex mu_;
  size_t preferred_ = 0;
};

// A gRPC status as an Error naming the operation and the key.
Error fromGrpc(const grpc::Status& s, const std::string& what);

}  // namespace membrane::kvstore
