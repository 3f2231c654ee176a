// SPDX-License-Identifier: Apache-2.0
#include "kvstore/session.h"

namespace membrane::kvstore {

namespace pb = etcdserverpb;

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<Client> client,
                                                 int64_t ttl_seconds, int64_t existing_lease) {
  if (ttl_seconds < 2) {
    return Error{ErrorCode::InvalidArgument, "session TTL must be at least 2 seconds"};
  }
  int64_t lease = 0;
  if (existing_lease != 0) {
    auto left = client->leaseTimeToLive(existing_lease);
    if (!left) return left.error();
    if (*left > 0) lease = existing_lease;
  }
  if (lease == 0) {
    auto granted = client->leaseGrant(ttl_seconds);
    if (!granted) return granted.error();
    lease = *granted;
  }
  std::unique_ptr<Session> s(new Session(std::move(client), lease, ttl_seconds));
  s->thread_ = std::thread([p = s.get()] { p->keepAliveLoop(); });
  return s;
}

Session::~Session() {
  stop();
  if (!abandoned_ && alive_) (void)client_->leaseRevoke(lease_);
}

void Session::abandon() {
  abandoned_ = true;
  stop();
}

void Session::stop() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
    if (stream_ctx_) stream_ctx_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Session::keepAliveOnce(size_t endpoint) {
  grpc::ClientContext ctx;
  {
    std::lock_guard l(mu_);
    if (stopping_) return true;
    stream_ctx_ = &ctx;
  }
  // A retry is a fresh connection attempt, not a wait for gRPC's growing backoff.
  client_->reconnect(endpoint);
  auto stream = pb::Lease::NewStub(client_->channel(endpoint))->LeaseKeepAlive(&ctx);
  bool lease_alive = true;
  const auto period = std::chrono::milliseconds(ttl_ * 1000 / 3);
  while (true) {
    pb::LeaseKeepAliveRequest req;
    req.set_id(lease_);
    pb::LeaseKeepAliveResponse resp;
    if (!stream->Write(req) || !stream->Read(&resp)) break;
    if (resp.ttl() <= 0) {  // etcd: the lease expired or was revoked
      lease_alive = false;
      break;
    }
    std::unique_lock l(mu_);
    if (cv_.wait_for(l, period, [&] { return stopping_; })) break;
  }
  stream->WritesDone();
  ctx.TryCancel();
  (void)stream->Finish();
  std::lock_guard l(mu_);
  stream_ctx_ = nullptr;
  return lease_alive;
}

void Session::keepAliveLoop() {
  size_t endpoint = client_->preferredEndpoint();
  while (true) {
    if (!keepAliveOnce(endpoint)) {
      alive_ = false;
      return;
    }
    std::unique_lock l(mu_);
    // The stream broke (etcd restarting, member gone): retry soon on the next endpoint; the
    // lease survives as long as a renewal lands within its TTL.
    if (cv_.wait_for(l, std::chrono::milliseconds(200), [&] { return stopping_; })) return;
    ++endpoint;
  }
}

}  // namespace membrane::kvstore
