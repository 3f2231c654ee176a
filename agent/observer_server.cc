// SPDX-License-Identifier: Apache-2.0
#include "agent/observer_server.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <deque>
#include <filesystem>

#include "agent/flow_filter.h"
#include "observer/observer.grpc.pb.h"

namespace membrane::agent {
namespace {

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t toNs(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000000LL + t.nanos();
}

// Turns records into responses, caching the context of the generation last seen.
class Materializer {
 public:
  Materializer(const FlowRing& ring, const std::string& node) : ring_(ring), node_(node) {}

  // False when the record is filtered out or outside [since, until].
  bool make(const FlowRecord& r, const FlowFilters& filters, int64_t since, int64_t until,
            observer::GetFlowsResponse& out) {
    if (r.time_ns < since || r.time_ns > until) return false;
    out.Clear();
    out.set_node_name(node_);
    out.mutable_time()->set_seconds(r.time_ns / 1000000000LL);
    out.mutable_time()->set_nanos(static_cast<int32_t>(r.time_ns % 1000000000LL));
    if (r.kind == FlowRecord::Kind::Lost) {
      toLostEvent(r, *out.mutable_lost_events());
      return true;
    }
    if (!ctx_ || ctx_->generation != r.context) ctx_ = ring_.context(r.context);
    if (r.kind == FlowRecord::Kind::L7) {
      *out.mutable_flow() = *r.l7;
      enrichL7Flow(ctx_.get(), *out.mutable_flow());
      return filters.match(out.flow());
    }
    toFlow(r, ctx_.get(), *out.mutable_flow());
    return filters.match(out.flow());
  }

 private:
  const FlowRing& ring_;
  std::string node_;
  std::shared_ptr<const FlowContext> ctx_;
};

class ObserverService final : public observer::Observer::Service {
 public:
  ObserverService(FlowRing& ring, ObserverOptions options)
      : ring_(ring), options_(std::move(options)), started_(std::chrono::steady_clock::now()) {}

  void stop() {
    stopping_ = true;
    ring_.wakeAll();
  }

  grpc::Status GetFlows(grpc::ServerContext* ctx, const observer::GetFlowsRequest* req,
                        grpc::ServerWriter<observer::GetFlowsResponse>* writer) override {
    auto filters = FlowFilters::compile(req->whitelist(), req->blacklist());
    if (!filters) return {grpc::StatusCode::INVALID_ARGUMENT, filters.error().context};
    const int64_t since = req->has_since() ? toNs(req->since()) : INT64_MIN;
    const int64_t until = req->has_until() ? toNs(req->until()) : INT64_MAX;
    if (since > until) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "since: after until"};
    }
    if (req->first() && req->follow()) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "first: cannot be combined with follow"};
    }
    Materializer m(ring_, options_.node_name);
    uint64_t next = 0;
    // A follower learns that its stream is set up before the first flow arrives (initial
    // metadata), so it can tell a live, quiet node from one that is not answering.
    if (req->follow()) writer->SendInitialMetadata();
    if (auto s = sendHeld(*req, *filters, since, until, m, writer, next); !s.ok()) return s;
    if (!req->follow()) return grpc::Status::OK;
    return follow(ctx, *filters, since, until, m, writer, next);
  }

  grpc::Status ServerStatus(grpc::ServerContext*, const observer::ServerStatusRequest*,
                            observer::ServerStatusResponse* out) override {
    out->set_num_flows(ring_.size());
    out->set_max_flows(ring_.capacity());
    out->set_seen_flows(ring_.seen());
    out->set_uptime_ns(uptimeNs());
    out->mutable_num_connected_nodes()->set_value(1);
    out->mutable_num_unavailable_nodes()->set_value(0);
    out->set_version(options_.version);
    out->set_flows_rate(flowsRate());
    return grpc::Status::OK;
  }

  grpc::Status GetNodes(grpc::ServerContext*, const observer::GetNodesRequest*,
                        observer::GetNodesResponse* out) override {
    auto* n = out->add_nodes();
    n->set_name(options_.node_name);
    n->set_version(options_.version);
    n->set_address(options_.listen.empty() ? "unix://" + options_.socket : options_.listen);
    n->set_state(relay::NODE_CONNECTED);
    n->set_uptime_ns(uptimeNs());
    n->set_num_flows(ring_.size());
    n->set_max_flows(ring_.capacity());
    n->set_seen_flows(ring_.seen());
    return grpc::Status::OK;
  }

 private:
  uint64_t uptimeNs() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                                started_)
        .count();
  }

  // Flows per second over the last minute of the ring (Hubble's flows_rate).
  double flowsRate() const {
    const int64_t from = nowNs() - 60LL * 1000000000LL;
    const auto slice = ring_.read(0);
    size_t n = 0;
    for (const auto& r : slice.records) n += r.kind == FlowRecord::Kind::Flow && r.time_ns >= from;
    return static_cast<double>(n) / 60.0;
  }

  // What the ring holds now: the first or last `number` matches (all when 0).
  grpc::Status sendHeld(const observer::GetFlowsRequest& req, const FlowFilters& filters,
                        int64_t since, int64_t until, Materializer& m,
                        grpc::ServerWriter<observer::GetFlowsResponse>* writer, uint64_t& next) {
    auto slice = ring_.read(0);
    next = slice.next;
    // follow without number and since: only what comes next (hubble observe -f).
    if (req.follow() && req.number() == 0 && !req.has_since()) return grpc::Status::OK;
    std::deque<observer::GetFlowsResponse> out;
    observer::GetFlowsResponse resp;
    for (const auto& r : slice.records) {
      if (!m.make(r, filters, since, until, resp)) continue;
      if (req.first() && req.number() > 0 && out.size() >= req.number()) break;
      out.push_back(resp);
      if (!req.first() && req.number() > 0 && out.size() > req.number()) out.pop_front();
    }
    for (const auto& o : out) {
      if (!writer->Write(o)) return {grpc::StatusCode::CANCELLED, "client went away"};
    }
    return grpc::Status::OK;
  }

  grpc::Status follow(grpc::ServerContext* ctx, const FlowFilters& filters, int64_t since,
                      int64_t until, Materializer& m,
                      grpc::ServerWriter<observer::GetFlowsResponse>* writer, uint64_t next) {
    observer::GetFlowsResponse resp;
    while (!stopping_ && !ctx->IsCancelled()) {
      if (!ring_.wait(next, std::chrono::milliseconds(200))) continue;
      auto slice = ring_.read(next);
      next = slice.next;
      if (slice.overwritten > 0) {
        // This reader fell behind by more than the ring holds: say how much it missed.
        resp.Clear();
        resp.set_node_name(options_.node_name);
        resp.mutable_lost_events()->set_source(flow::HUBBLE_RING_BUFFER);
        resp.mutable_lost_events()->set_num_events_lost(slice.overwritten);
        if (!writer->Write(resp)) break;
      }
      for (const auto& r : slice.records) {
        if (r.time_ns > until) return grpc::Status::OK;
        if (!m.make(r, filters, since, until, resp)) continue;
        if (!writer->Write(resp)) return grpc::Status::OK;
      }
    }
    return grpc::Status::OK;
  }

  FlowRing& ring_;
  ObserverOptions options_;
  std::chrono::steady_clock::time_point started_;
  std::atomic<bool> stopping_{false};
};

}  // namespace

struct ObserverServer::Impl {
  std::unique_ptr<ObserverService> service;
  std::unique_ptr<grpc::Server> server;
  std::string socket;
};

ObserverServer::ObserverServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<ObserverServer>> ObserverServer::start(FlowRing& ring,
                                                              const ObserverOptions& options) {
  // The configuration allows only loopback or the node's own address (agent/config.cc).
  if (!options.listen.empty() && !loopbackListenAddress(options.listen) &&
      !ipv4ListenAddress(options.listen)) {
    return Error{.code = EINVAL,
                 .context = "observer listen address \"" + options.listen +
                            "\": expected a loopback or IPv4 host:port"};
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(options.socket).parent_path(), ec);
  ::unlink(options.socket.c_str());  // a previous run's socket file
  auto impl = std::make_unique<Impl>();
  impl->socket = options.socket;
  impl->service = std::make_unique<ObserverService>(ring, options);
  grpc::ServerBuilder b;
  b.AddListeningPort("unix:" + options.socket, grpc::InsecureServerCredentials());
  int tcp_port = 0;
  if (!options.listen.empty()) {
    b.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &tcp_port);
  }
  b.RegisterService(impl->service.get());
  impl->server = b.BuildAndStart();
  if (!impl->server) {
    return Error{.code = EADDRINUSE,
                 .context = "observer: cannot listen on unix:" + options.socket +
                            (options.listen.empty() ? "" : " and " + options.listen)};
  }
  if (!options.listen.empty() && tcp_port == 0) {
    impl->server->Shutdown();
    return Error{.code = EADDRINUSE, .context = "observer: cannot listen on " + options.listen};
  }
  ::chmod(options.socket.c_str(), 0660);
  return std::unique_ptr<ObserverServer>(new ObserverServer(std::move(impl)));
}

ObserverServer::~ObserverServer() {
  impl_->service->stop();
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  impl_->server->Wait();
  ::unlink(impl_->socket.c_str());
}

}  // namespace membrane::agent
