// SPDX-License-Identifier: Apache-2.0
#include "kvstore/watch.h"

namespace membrane::kvstore {

namespace pb = etcdserverpb;

Result<std::unique_ptr<Watch>> Watch::start(std::shared_ptr<Client> client, WatchOptions o) {
  if (!o.on_events) return Error{ErrorCode::InvalidArgument, "watch: no event callback"};
  int64_t from = o.from_revision;
  if (from == 0) {
    // "From now on" is pinned to a revision now, so a reconnect before the first event still
    // resumes from here rather than from whenever the new stream opens.
    auto st = client->getPrefix(o.prefix);
    if (!st) return st.error();
    from = st->revision + 1;
  }
  std::unique_ptr<Watch> w(new Watch(std::move(client), std::move(o)));
  w->next_revision_ = from;
  w->thread_ = std::thread([p = w.get()] { p->loop(); });
  return w;
}

Watch::~Watch() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
    if (ctx_) ctx_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t Watch::nextRevision() const {
  std::lock_guard l(mu_);
  return next_revision_;
}

size_t Watch::reconnects() const {
  std::lock_guard l(mu_);
  return reconnects_;
}

void Watch::state(WatchState s, const std::string& detail) {
  if (opt_.on_state) opt_.on_state(s, detail);
}

void Watch::loop() {
  size_t endpoint = client_->preferredEndpoint();
  while (runStream(endpoint)) {
    std::unique_lock l(mu_);
    if (cv_.wait_for(l, opt_.retry, [&] { return stopping_; })) return;
    ++reconnects_;
    ++endpoint;  // a broken stream often means a lost member: try the next one
  }
}

bool Watch::runStream(size_t endpoint) {
  grpc::ClientContext ctx;
  int64_t from = 0;
  {
    std::lock_guard l(mu_);
    if (stopping_) return false;
    ctx_ = &ctx;
    from = next_revision_;
  }
  // A retry is a fresh connection attempt, not a wait for gRPC's growing backoff.
  client_->reconnect(endpoint);
  auto stream = pb::Watch::NewStub(client_->channel(endpoint))->Watch(&ctx);
  pb::WatchRequest req;
  auto* create = req.mutable_create_request();
  create->set_key(opt_.prefix);
  create->set_range_end(prefixRangeEnd(opt_.prefix));
  create->set_start_revision(from);
  create->set_progress_notify(true);
  bool keep_going = true;
  pb::WatchResponse resp;
  if (stream->Write(req)) {
    while (stream->Read(&resp)) {
      if (resp.compact_revision() > 0) {
        state(WatchState::Compacted, "revision " + std::to_string(from) +
                                         " compacted; etcd keeps from " +
                                         std::to_string(resp.compact_revision()));
        keep_going = false;
        break;
      }
      if (resp.canceled()) {
        state(WatchState::Disconnected, "watch cancelled by etcd: " + resp.cancel_reason());
        break;
      }
      if (resp.created()) {
        state(WatchState::Connected,
              "endpoint " + client_->config().endpoints[endpoint % client_->endpointCount()]);
        continue;
      }
      std::vector<WatchEvent> events;
      int64_t rev = 0;
      for (const auto& e : resp.events()) {
        // Events below the resume point were delivered on an earlier stream (guard only:
        // start_revision already excludes them).
        if (e.kv().mod_revision() < from) continue;
        events.push_back({.type = e.type() == mvccpb::Event::DELETE ? WatchEvent::Type::Delete
                                                                    : WatchEvent::Type::Put,
                          .kv = fromProto(e.kv())});
        rev = std::max(rev, e.kv().mod_revision());
      }
      if (!events.empty()) opt_.on_events(events, rev);
      // An empty response is a progress notification: every event up to the header's
      // revision has been sent, so a resume may start after it.
      const int64_t upto = resp.events_size() == 0 ? resp.header().revision() : rev;
      std::lock_guard l(mu_);
      next_revision_ = std::max(next_revision_, upto + 1);
      from = next_revision_;
    }
  }
  ctx.TryCancel();
  (void)stream->Finish();
  bool stopping = false;
  {
    std::lock_guard l(mu_);
    ctx_ = nullptr;
    stopping = stopping_;
    from = next_revision_;
  }
  if (!stopping && keep_going) {
    state(WatchState::Disconnected,
          "stream closed; resuming from revision " + std::to_string(from));
  }
  return keep_going && !stopping;
}

}  // namespace membrane::kvstore
