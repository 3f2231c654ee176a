// SPDX-License-Identifier: Apache-2.0
#include "agent/flows.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>

#include <array>
#include <atomic>
#include <thread>

#include "agent/desired.h"
#include "agent/metrics.h"
#include "dataplane/agent.h"
#include "dataplane/datapath.h"
#include "dataplane/observe.h"

namespace membrane::agent {

std::shared_ptr<FlowContext> buildFlowContext(const AgentConfig& config, const DesiredModel& m,
                                              const dataplane::IdentityStabilizer& ids) {
  auto ctx = std::make_shared<FlowContext>();
  ctx->node_name = config.node_name;
  ctx->cluster_name = config.cluster_name;
  const model::Cluster& c = m.loaded.cluster;
  for (const auto& p : c.pods) {
    if (!p.ip) continue;
    FlowPod fp{.namespace_ = p.namespace_, .name = p.name};
    if (p.workload < c.workloads.size() && c.workloads[p.workload].kind != "Pod") {
      fp.workload_kind = c.workloads[p.workload].kind;
      fp.workload_name = c.workloads[p.workload].name;
    }
    ctx->pods[*p.ip] = std::move(fp);
  }
  for (const auto& [id, ident] : c.identities) {
    FlowIdentity fi;
    for (const auto& l : ident.labels.all()) fi.labels.push_back(l.str());
    if (const auto* ns = ident.labels.find(model::kSourceK8s, model::kLabelPodNamespace)) {
      fi.namespace_ = ns->value;
    }
    ctx->identities[ids(id)] = std::move(fi);
  }
  for (const auto& r : c.policies.rules) {
    ctx->rules.push_back({.kind = std::string(model::policyKindName(r.kind)),
                          .namespace_ = r.policy_namespace,
                          .name = r.policy_name,
                          .path = r.path,
                          .file = r.loc.file,
                          .line = static_cast<uint32_t>(std::max(r.loc.line, 0))});
  }
  return ctx;
}

void FlowDecoder::anchor() {
  timespec mono{}, real{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  offset_ns_ = (static_cast<int64_t>(real.tv_sec) - mono.tv_sec) * 1000000000LL +
               (static_cast<int64_t>(real.tv_nsec) - mono.tv_nsec);
}

FlowRing::FlowRing(uint32_t capacity) : buf_(std::max<uint32_t>(capacity, 1)) {}

void FlowRing::append(std::span<FlowRecord> batch) {
  if (batch.empty()) return;
  {
    std::lock_guard lock(mu_);
    for (auto& r : batch) {
      r.seq = next_seq_++;
      buf_[(r.seq - 1) % buf_.size()] = r;
    }
  }
  cv_.notify_all();
}

void FlowRing::publish(std::shared_ptr<FlowContext> ctx) {
  std::lock_guard lock(mu_);
  ctx->generation = ++generation_;
  contexts_[generation_] = std::move(ctx);
  // Records hold non-decreasing generations, so the oldest held record names the oldest
  // context still needed; the newest two stay for a batch being decoded right now.
  uint64_t keep = generation_ > 1 ? generation_ - 1 : 1;
  if (next_seq_ > 1) {
    const uint64_t oldest = next_seq_ > buf_.size() ? next_seq_ - buf_.size() : 1;
    keep = std::min(keep, buf_[(oldest - 1) % buf_.size()].context);
  }
  contexts_.erase(contexts_.begin(), contexts_.lower_bound(keep));
}

uint64_t FlowRing::currentContext() const {
  std::lock_guard lock(mu_);
  return generation_;
}

std::shared_ptr<const FlowContext> FlowRing::context(uint64_t generation) const {
  std::lock_guard lock(mu_);
  auto it = contexts_.find(generation);
  return it == contexts_.end() ? nullptr : it->second;
}

FlowRing::Slice FlowRing::read(uint64_t from) const {
  Slice s;
  std::lock_guard lock(mu_);
  const uint64_t oldest = next_seq_ > buf_.size() ? next_seq_ - buf_.size() : 1;
  const uint64_t start = std::max(from, oldest);
  if (from != 0 && from < oldest) s.overwritten = oldest - from;
  if (start < next_seq_) s.records.reserve(next_seq_ - start);
  for (uint64_t q = start; q < next_seq_; ++q) s.records.push_back(buf_[(q - 1) % buf_.size()]);
  s.next = std::max(start, next_seq_);
  return s;
}

bool FlowRing::wait(uint64_t next, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return next_seq_ > next; });
}

uint64_t FlowRing::size() const {
  std::lock_guard lock(mu_);
  return std::min<uint64_t>(next_seq_ - 1, buf_.size());
}

uint64_t FlowRing::seen() const {
  std::lock_guard lock(mu_);
  return next_seq_ - 1;
}

void FlowRing::wakeAll() const { cv_.notify_all(); }

namespace {

std::string ipStr(uint32_t be_addr) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &be_addr, buf, sizeof(buf));
  return buf;
}

void setTime(int64_t ns, google::protobuf::Timestamp& t) {
  t.set_seconds(ns / 1000000000LL);
  t.set_nanos(static_cast<int32_t>(ns % 1000000000LL));
}

void fillEndpoint(const FlowContext* ctx, uint32_t be_addr, uint32_t identity, uint16_t local_id,
                  flow::Endpoint& ep) {
  ep.set_id(local_id);
  ep.set_identity(identity);
  if (ctx == nullptr) return;
  ep.set_cluster_name(ctx->cluster_name);
  if (auto it = ctx->identities.find(identity); it != ctx->identities.end()) {
    ep.set_namespace_(it->second.namespace_);
    for (const auto& l : it->second.labels) ep.add_labels(l);
  }
  // Reserved and CIDR identities name no pod, even when an address is a pod's elsewhere.
  if (identity < 256) return;
  if (auto it = ctx->pods.find(ntohl(be_addr)); it != ctx->pods.end()) {
    ep.set_namespace_(it->second.namespace_);
    ep.set_pod_name(it->second.name);
    if (!it->second.workload_kind.empty()) {
      auto* w = ep.add_workloads();
      w->set_name(it->second.workload_name);
      w->set_kind(it->second.workload_kind);
    }
  }
}

void fillL4(const dataplane::FlowEvent& ev, flow::Layer4& l4) {
  const uint32_t sport = ntohs(ev.sport), dport = ntohs(ev.dport);
  switch (ev.protocol) {
    case IPPROTO_TCP: {
      auto* t = l4.mutable_tcp();
      t->set_source_port(sport);
      t->set_destination_port(dport);
      auto* f = t->mutable_flags();
      f->set_fin(ev.tcp_flags & 0x01);
      f->set_syn(ev.tcp_flags & 0x02);
      f->set_rst(ev.tcp_flags & 0x04);
      f->set_psh(ev.tcp_flags & 0x08);
      f->set_ack(ev.tcp_flags & 0x10);
      f->set_urg(ev.tcp_flags & 0x20);
      f->set_ece(ev.tcp_flags & 0x40);
      f->set_cwr(ev.tcp_flags & 0x80);
      break;
    }
    case IPPROTO_UDP:
      l4.mutable_udp()->set_source_port(sport);
      l4.mutable_udp()->set_destination_port(dport);
      break;
    case IPPROTO_SCTP:
      l4.mutable_sctp()->set_source_port(sport);
      l4.mutable_sctp()->set_destination_port(dport);
      break;
    case IPPROTO_ICMP:
      l4.mutable_icmpv4()->set_type(ev.icmp_type);
      l4.mutable_icmpv4()->set_code(ev.icmp_code);
      break;
    default:
      break;
  }
}

// Cilium's labels of a policy (pkg/policy/api: derived-from, name, namespace).
void fillPolicy(const FlowRule& r, flow::Policy& p) {
  p.set_name(r.name);
  p.set_namespace_(r.namespace_);
  p.set_kind(r.kind);
  p.add_labels("k8s:io.cilium.k8s.policy.derived-from=" + r.kind);
  p.add_labels("k8s:io.cilium.k8s.policy.name=" + r.name);
  if (!r.namespace_.empty()) p.add_labels("k8s:io.cilium.k8s.policy.namespace=" + r.namespace_);
  p.mutable_membrane_source()->set_name(r.file);
  p.mutable_membrane_source()->set_line(r.line);
  p.set_membrane_rule(r.path);
}

void fillPolicies(const dataplane::FlowEvent& ev, const FlowContext* ctx, flow::Flow& out) {
  if (ctx == nullptr || ev.match_type == MEMBRANE_MATCH_NONE || ev.policy_cookie == 0 ||
      ev.policy_cookie > ctx->rules.size()) {
    return;
  }
  const FlowRule& rule = ctx->rules[ev.policy_cookie - 1];
  const bool egress = ev.direction == MEMBRANE_DIR_EGRESS;
  flow::Policy* p = nullptr;
  if (ev.verdict == MEMBRANE_VERDICT_DROPPED || ev.verdict == MEMBRANE_VERDICT_AUDIT) {
    if (ev.drop_reason != MEMBRANE_DROP_POLICY_DENY) return;
    p = egress ? out.add_egress_denied_by() : out.add_ingress_denied_by();
  } else {
    p = egress ? out.add_egress_allowed_by() : out.add_ingress_allowed_by();
  }
  fillPolicy(rule, *p);
}

// Cilium's monitor message types (pkg/monitor/api): what `hubble observe --type` filters.
constexpr int32_t kMessageTypeDrop = 1;
constexpr int32_t kMessageTypeTrace = 4;
constexpr int32_t kTraceToLxc = 0;
constexpr int32_t kTraceFromLxc = 5;

}  // namespace

void enrichL7Flow(const FlowContext* ctx, flow::Flow& f) {
  if (ctx == nullptr) return;
  auto fill = [&](const std::string& ip, flow::Endpoint& ep) {
    in_addr a{};
    if (inet_pton(AF_INET, ip.c_str(), &a) != 1) return;
    const uint32_t id = ep.identity();
    const uint32_t local = ep.id();
    fillEndpoint(ctx, a.s_addr, id, static_cast<uint16_t>(local), ep);
  };
  fill(f.ip().source(), *f.mutable_source());
  fill(f.ip().destination(), *f.mutable_destination());
  if (f.node_name().empty()) f.set_node_name(ctx->node_name);
}

void toFlow(const FlowRecord& r, const FlowContext* ctx, flow::Flow& out) {
  const dataplane::FlowEvent& ev = r.ev;
  setTime(r.time_ns, *out.mutable_time());
  out.mutable_emitter()->set_name("membrane");
  out.set_type(flow::L3_L4);
  if (ctx != nullptr) out.set_node_name(ctx->node_name);
  const bool dropped = ev.verdict == MEMBRANE_VERDICT_DROPPED;
  out.set_verdict(static_cast<flow::Verdict>(ev.verdict));
  const bool egress = ev.direction == MEMBRANE_DIR_EGRESS;
  out.set_traffic_direction(egress ? flow::EGRESS : flow::INGRESS);
  auto* et = out.mutable_event_type();
  if (dropped) {
    out.set_drop_reason(ev.drop_reason);
    out.set_drop_reason_desc(static_cast<flow::DropReason>(ev.drop_reason));
    et->set_type(kMessageTypeDrop);
    et->set_sub_type(ev.drop_reason);
  } else {
    et->set_type(kMessageTypeTrace);
    et->set_sub_type(egress ? kTraceFromLxc : kTraceToLxc);
    out.set_trace_observation_point(egress ? flow::FROM_ENDPOINT : flow::TO_ENDPOINT);
    // AUDIT: the reason it would have been dropped for.
    if (ev.drop_reason != 0)
      out.set_drop_reason_desc(static_cast<flow::DropReason>(ev.drop_reason));
    out.set_trace_reason(static_cast<flow::TraceReason>(ev.ct_status + 1));
    const bool reply = ev.ct_status == MEMBRANE_CT_REPLY;
    out.set_reply(reply);
    out.mutable_is_reply()->set_value(reply);
  }
  out.set_policy_match_type(ev.match_type);
  out.set_proxy_port(ev.proxy_port);
  out.mutable_interface()->set_index(ev.ifindex);
  if (ev.eth_proto == htons(0x0800)) {
    auto* ip = out.mutable_ip();
    ip->set_source(ipStr(ev.saddr));
    ip->set_destination(ipStr(ev.daddr));
    ip->set_ipversion(flow::IPv4);
    fillL4(ev, *out.mutable_l4());
  }
  fillEndpoint(ctx, ev.saddr, ev.src_identity, egress ? ev.endpoint_id : 0, *out.mutable_source());
  fillEndpoint(ctx, ev.daddr, ev.dst_identity, egress ? 0 : ev.endpoint_id,
               *out.mutable_destination());
  fillPolicies(ev, ctx, out);
}

void toLostEvent(const FlowRecord& r, flow::LostEvent& out) {
  out.set_source(flow::PERF_EVENT_RING_BUFFER);
  out.set_num_events_lost(r.lost);
  setTime(r.time_ns, *out.mutable_last());
}

void FlowBatcher::begin() {
  context_ = ring_.currentContext();
  decoder_.anchor();
}

void FlowBatcher::add(const dataplane::FlowEvent& ev) {
  if (ev.type != MEMBRANE_EVENT_FLOW) return;
  if (stats_ != nullptr) stats_->count(ev);
  decoder_.decode(ev, context_, batch_[n_++]);
  if (n_ == kBatch) flush();
}

void FlowBatcher::flush() {
  ring_.append(std::span(batch_.data(), n_));
  n_ = 0;
}

struct FlowReader::Impl {
  dataplane::Datapath* dp = nullptr;
  FlowRing* ring = nullptr;
  FlowStats* stats = nullptr;
  std::unique_ptr<dataplane::EventReader> reader;
  std::unique_ptr<FlowBatcher> batcher;
  std::atomic<bool> stop{false};
  std::thread thread;
  uint64_t lost_seen = 0;

  // The datapath's count of events it could not write, as a Lost record in the ring.
  void noteLost() {
    const uint64_t lost = dp->eventsLost();
    if (lost <= lost_seen) return;
    FlowRecord r{.kind = FlowRecord::Kind::Lost};
    r.lost = lost - lost_seen;
    if (stats != nullptr) stats->lost(r.lost);
    r.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
    r.context = ring->currentContext();
    lost_seen = lost;
    ring->append(std::span(&r, 1));
  }
  void run() {
    const dataplane::EventReader::Callback fn = [this](const dataplane::FlowEvent& ev) {
      batcher->add(ev);
    };
    while (!stop) {
      batcher->begin();
      (void)reader->poll(100, fn);
      batcher->flush();
      noteLost();
    }
  }
};

FlowReader::FlowReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<FlowReader>> FlowReader::start(dataplane::Datapath& dp, FlowRing& ring,
                                                      FlowStats* stats) {
  auto impl = std::make_unique<Impl>();
  impl->stats = stats;
  impl->batcher = std::make_unique<FlowBatcher>(ring, stats);
  impl->dp = &dp;
  impl->ring = &ring;
  // Losses before this agent started are not this run's to report.
  impl->lost_seen = dp.eventsLost();
  auto reader = dataplane::EventReader::create(dp.eventsFd());
  if (!reader) return reader.error();
  impl->reader = std::move(*reader);
  Impl* p = impl.get();
  impl->thread = std::thread([p] { p->run(); });
  return std::unique_ptr<FlowReader>(new FlowReader(std::move(impl)));
}

FlowReader::~FlowReader() {
  impl_->stop = true;
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace membrane::agent
