// SPDX-License-Identifier: Apache-2.0
#include "kvstore/client.h"

#include <fstream>
#include <sstream>

namespace membrane::kvstore {

namespace pb = etcdserverpb;

const char* errorCodeName(ErrorCode c) {
  switch (c) {
    case ErrorCode::Unavailable:
      return "unavailable";
    case ErrorCode::Conflict:
      return "conflict";
    case ErrorCode::NotFound:
      return "not found";
    case ErrorCode::Compacted:
      return "compacted";
    case ErrorCode::InvalidArgument:
      return "invalid argument";
    case ErrorCode::Internal:
      return "internal";
  }
  return "?";
}

std::string prefixRangeEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& c = end.back();
    if (static_cast<unsigned char>(c) < 0xff) {
      ++c;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // etcd: "\0" as range_end means "every key >= key"
}

KeyValue fromProto(const mvccpb::KeyValue& kv) {
  return {.key = kv.key(),
          .value = kv.value(),
          .create_revision = kv.create_revision(),
          .mod_revision = kv.mod_revision(),
          .version = kv.version(),
          .lease = kv.lease()};
}

Error fromGrpc(const grpc::Status& s, const std::string& what) {
  const bool down = s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                    s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  return {.code = down ? ErrorCode::Unavailable : ErrorCode::Internal,
          .message = what + ": " + (down ? "etcd unreachable: " : "etcd: ") + s.error_message()};
}

namespace {

Result<std::string> readFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{ErrorCode::InvalidArgument, std::string(what) + ": cannot read " + path};
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Result<std::shared_ptr<grpc::ChannelCredentials>> credentials(const TlsConfig& tls) {
  if (!tls.enabled()) return grpc::InsecureChannelCredentials();
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return Error{ErrorCode::InvalidArgument,
                 "TLS: a client certificate needs its key (and the key its certificate)"};
  }
  grpc::SslCredentialsOptions o;
  for (auto [path, out, what] : {std::tuple{&tls.ca_file, &o.pem_root_certs, "TLS CA"},
                                 std::tuple{&tls.cert_file, &o.pem_cert_chain, "TLS certificate"},
                                 std::tuple{&tls.key_file, &o.pem_private_key, "TLS key"}}) {
    if (path->empty()) continue;
    auto text = readFile(*path, what);
    if (!text) return text.error();
    *out = *text;
  }
  return grpc::SslCredentials(o);
}

// "http://127.0.0.1:2379" -> "127.0.0.1:2379"; https requires TLS, plain http forbids it.
Result<std::string> grpcTarget(const std::string& url, bool tls) {
  std::string rest;
  if (url.starts_with("http://")) {
    if (tls) return Error{ErrorCode::InvalidArgument, url + ": TLS is configured, use https://"};
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    if (!tls) return Error{ErrorCode::InvalidArgument, url + ": https needs --etcd-ca (TLS)"};
    rest = url.substr(8);
  } else {
    return Error{ErrorCode::InvalidArgument,
                 "endpoint \"" + url + "\": expected http://HOST:PORT or https://HOST:PORT"};
  }
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find(':') == std::string::npos || rest.find('/') != std::string::npos) {
    return Error{ErrorCode::InvalidArgument,
                 "endpoint \"" + url + "\": expected http://HOST:PORT or https://HOST:PORT"};
  }
  return rest;
}

}  // namespace

Result<std::shared_ptr<Client>> Client::create(ClientConfig config) {
  if (config.endpoints.empty()) {
    return Error{ErrorCode::InvalidArgument, "no etcd endpoint configured"};
  }
  auto creds = credentials(config.tls);
  if (!creds) return creds.error();
  std::shared_ptr<Client> c(new Client(config));
  c->creds_ = *creds;
  for (const auto& url : config.endpoints) {
    auto target = grpcTarget(url, config.tls.enabled());
    if (!target) return target.error();
    c->targets_.push_back(*target);
    c->channels_.push_back(c->newChannel(*target));
  }
  return c;
}

std::shared_ptr<grpc::Channel> Client::newChannel(const std::string& target) const {
  grpc::ChannelArguments args;
  // Each channel owns its subchannels, so replacing a channel really starts a new connection.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  return grpc::CreateCustomChannel(target, creds_, args);
}

std::shared_ptr<grpc::Channel> Client::channel(size_t i) const {
  std::lock_guard l(mu_);
  return channels_[i % channels_.size()];
}

void Client::reconnect(size_t i) {
  i %= channels_.size();
  auto fresh = newChannel(targets_[i]);
  std::lock_guard l(mu_);
  // gRPC keeps a failed channel in TRANSIENT_FAILURE for its backoff (seconds, growing) and
  // fails calls fast meanwhile; a caller that retries wants a new attempt now.
  if (channels_[i]->GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE) channels_[i] = fresh;
}

size_t Client::preferredEndpoint() const {
  std::lock_guard l(mu_);
  return preferred_;
}

void Client::setPreferredEndpoint(size_t i) {
  std::lock_guard l(mu_);
  preferred_ = i % channels_.size();
}

template <typename Call>
grpc::Status Client::unary(Call&& call) {
  const size_t first = preferredEndpoint();
  grpc::Status s;
  for (size_t k = 0; k < channels_.size(); ++k) {
    const size_t i = (first + k) % channels_.size();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + config_.request_timeout);
    s = call(channel(i), ctx);
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE) {
      if (i != first) setPreferredEndpoint(i);
      return s;
    }
    reconnect(i);
  }
  return s;
}

Result<std::optional<KeyValue>> Client::get(const std::string& key) {
  pb::RangeRequest req;
  req.set_key(key);
  pb::RangeResponse resp;
  auto s = unary([&](auto ch, grpc::ClientContext& ctx) {
    return pb::KV::NewStub(ch)->Range(&ctx, req, &resp);
  });
  if (!s.ok()) return fromGrpc(s, "get " + key);
  if (resp.kvs_size() == 0) return std::optional<KeyValue>();
  return std::optional<KeyValue>(fromProto(resp.kvs(0)));
}

Result<RangeResult> Client::getPrefix(const std::string& prefix) {
  pb::RangeRequest req;
  req.set_key(prefix);
  req.set_range_end(prefixRangeEnd(prefix));
  pb::RangeResponse resp;
  auto s = unary([&](auto ch, grpc::ClientContext& ctx) {
    return pb::KV::NewStub(ch)->Range(&ctx, req, &resp);
  });
  if (!s.ok()) return fromGrpc(s, "get prefix " + prefix);
  RangeResult r{.revision = resp.header().revision()};
  for (const auto& kv : resp.kvs()) r.kvs.push_back(fromProto(kv));
  return r;
}

Result<int64_t> Client::put(const std::string& key, const std::string& value, int64_t lease) {
  pb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  req.set_lease(lease);
  pb::PutResponse resp;
  auto s = unary([&](auto ch, grpc::ClientContext& ctx) {
    return pb::KV::NewStub(ch)->Put(&ctx, req, &resp);
  });
  if (!s.ok()) return fromGrpc(s, "put " + key);
  return resp.header().revision();
}

Result<pb::TxnResponse> Client::txn(const pb::TxnRequest& req) {
  pb::TxnResponse resp;
  auto s = unary([&](auto ch, grpc::ClientContext& ctx) {
    return pb::KV::NewStub(ch)->Txn(&ctx, req, &resp);
  });
  if (!s.ok()) return fromGrpc(s, "txn");
  return resp;
}

namespace {

void compareMod(pb::TxnRequest& t, const std::string& key, int64_t expected) {
  auto* c = t.add_compare();
  c->set_key(key);
  c->set_target(pb::Compare::MOD);
  c->set_result(pb::Compare::EQUAL);
  c->set_mod_revision(expected);
}

// The revision the failed compare found, read in the failure branch of the same txn.
int64_t foundRevision(const pb::TxnResponse& r) {
  if (r.responses_size() == 0 || !r.responses(0).has_response_range()) return 0;
  const auto& range = r.responses(0).response_range();
  return range.kvs_size() ? range.kvs(0).mod_revision() : 0;
}

// A compare-on-revision txn's outcome: the new revision, or a conflict naming what was found.
Result<int64_t> revisionOrConflict(const Result<pb::TxnResponse>& r, const std::string& key,
                                   int64_t expected) {
  if (!r) return r.error();
  if (!r->succeeded()) {
    return Error{ErrorCode::Conflict, key + ": expected revision " + std::to_string(expected) +
                                          ", found " + std::to_string(foundRevision(*r))};
  }
  return r->header().revision();
}

}  // namespace

Result<int64_t> Client::txnPutIfRevision(const std::string& key, const std::string& value,
                                         int64_t expected, int64_t lease) {
  pb::TxnRequest t;
  compareMod(t, key, expected);
  auto* put = t.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  put->set_lease(lease);
  t.add_failure()->mutable_request_range()->set_key(key);
  return revisionOrConflict(txn(t), key, expected);
}

Result<int64_t> Client::txnDeleteIfRevision(const std::string& key, int64_t expected) {
  pb::TxnRequest t;
  compareMod(t, key, expected);
  t.add_success()->mutable_request_delete_range()->set_key(key);
  t.add_failure()->mutable_request_range()->set_key(key);
  return revisionOrConflict(txn(t), key, expected);
}

Result<int64_t> Client::del(const std::string& key) { return deleteRange(key, ""); }

Result<int64_t> Client::deletePrefix(const std::string& prefix) {
  return deleteRange(prefix, prefixRangeEnd(prefix));
}

Result<int64_t> Client::deleteRange(const std::string& key, const std::string& end) {
  pb::DeleteRangeRequest req;
  req.set_key(key);
  req.set_range_end(end);
  pb::DeleteRangeResponse resp;
  auto s = unary([&](auto ch, grpc::ClientContext& ctx) {
    return pb::KV::NewStub(ch)->DeleteRange(&ctx, req, &resp);
  });
  if (!s.ok()) return fromGrpc(s, "delete " + key);
  return resp.deleted();
}

Result<pb::StatusResponse> Client::status() {
  pb::StatusRequest req;
  pb::StatusResponse resp;
  auto s = unary([&](auto ch, grpc::ClientContext& ctx) {
    return pb::Maintenance::NewStub(ch)->Status(&ctx, req, &resp);
  });
  if (!s.ok()) return fromGrpc(s, "status");
  return resp;
}

Result<int64_t> Client::leaseGrant(int64_t ttl_seconds) {
  pb::LeaseGrantRequest req;
  req.set_ttl(ttl_seconds);
  pb::LeaseGrantResponse resp;
  auto s = unary([&](auto ch, grpc::ClientContext& ctx) {
    return pb::Lease::NewStub(ch)->LeaseGrant(&ctx, req, &resp);
  });
  if (!s.ok()) return fromGrpc(s, "lease grant");
  if (!resp.error().empty()) return Error{ErrorCode::Internal, "lease grant: " + resp.error()};
  return resp.id();
}

Status Client::leaseRevoke(int64_t lease) {
  pb::LeaseRevokeRequest req;
  req.set_id(lease);
  pb::LeaseRevokeResponse resp;
  auto s = unary([&](auto ch, grpc::ClientContext& ctx) {
    return pb::Lease::NewStub(ch)->LeaseRevoke(&ctx, req, &resp);
  });
  if (!s.ok()) return fromGrpc(s, "lease revoke");
  return Ok{};
}

Result<int64_t> Client::leaseTimeToLive(int64_t lease) {
  pb::LeaseTimeToLiveRequest req;
  req.set_id(lease);
  pb::LeaseTimeToLiveResponse resp;
  auto s = unary([&](auto ch, grpc::ClientContext& ctx) {
    return pb::Lease::NewStub(ch)->LeaseTimeToLive(&ctx, req, &resp);
  });
  if (!s.ok()) return fromGrpc(s, "lease ttl");
  return resp.ttl();
}

}  // namespace membrane::kvstore
