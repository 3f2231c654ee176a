// SPDX-License-Identifier: Apache-2.0
#include "dataplane/observe.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>

#include <cerrno>
#include <cstring>

namespace membrane::dataplane {

std::string_view dropReasonName(uint8_t reason) {
  switch (reason) {
    case MEMBRANE_DROP_NONE:
      return "NONE";
    case MEMBRANE_DROP_INVALID_SIP:
      return "INVALID_SOURCE_IP";
    case MEMBRANE_DROP_POLICY:
      return "POLICY_DENIED";
    case MEMBRANE_DROP_INVALID:
      return "INVALID_PACKET_DROPPED";
    case MEMBRANE_DROP_CT_INVALID_HDR:
      return "CT_TRUNCATED_OR_INVALID_HEADER";
    case MEMBRANE_DROP_UNKNOWN_L3:
      return "UNSUPPORTED_L3_PROTOCOL";
    case MEMBRANE_DROP_WRITE_ERROR:
      return "FAILED_TO_WRITE_PACKET";
    case MEMBRANE_DROP_UNKNOWN_L4:
      return "UNKNOWN_L4_PROTOCOL";
    case MEMBRANE_DROP_UNKNOWN_TARGET:
      return "UNKNOWN_L3_TARGET_ADDRESS";
    case MEMBRANE_DROP_CT_CREATE_FAILED:
      return "CT_MAP_INSERTION_FAILED";
    case MEMBRANE_DROP_FRAG_NOSUPPORT:
      return "IP_FRAGMENTATION_NOT_SUPPORTED";
    case MEMBRANE_DROP_NO_SERVICE:
      return "NO_SERVICE";
    case MEMBRANE_DROP_UNKNOWN_CT:
      return "UNKNOWN_CONNECTION_TRACKING_STATE";
    case MEMBRANE_DROP_NO_CONFIG:
      return "NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION";
    case MEMBRANE_DROP_UNSUPPORTED_L2:
      return "UNSUPPORTED_L2_PROTOCOL";
    case MEMBRANE_DROP_POLICY_DENY:
      return "POLICY_DENY";
    case MEMBRANE_DROP_INVALID_IDENTITY:
      return "INVALID_IDENTITY";
    case MEMBRANE_DROP_UNKNOWN_SENDER:
      return "UNKNOWN_SENDER";
    case MEMBRANE_DROP_PROXY_LOOKUP_FAILED:
      return "PROXY_LOOKUP_FAILED";
    default:
      return "DROP_REASON_UNKNOWN";
  }
}

std::string_view verdictName(uint8_t verdict) {
  switch (verdict) {
    case MEMBRANE_VERDICT_FORWARDED:
      return "FORWARDED";
    case MEMBRANE_VERDICT_DROPPED:
      return "DROPPED";
    case MEMBRANE_VERDICT_REDIRECTED:
      return "REDIRECTED";
    case MEMBRANE_VERDICT_AUDIT:
      return "AUDIT";
    default:
      return "VERDICT_UNKNOWN";
  }
}

std::string_view ctStatusName(uint8_t status) {
  switch (status) {
    case MEMBRANE_CT_NEW:
      return "new";
    case MEMBRANE_CT_ESTABLISHED:
      return "established";
    case MEMBRANE_CT_REPLY:
      return "reply";
    case MEMBRANE_CT_RELATED:
      return "related";
    default:
      return "?";
  }
}

std::string_view matchTypeName(uint8_t match_type) {
  switch (match_type) {
    case MEMBRANE_MATCH_L3_ONLY:
      return "L3-Only";
    case MEMBRANE_MATCH_L3_L4:
      return "L3-L4";
    case MEMBRANE_MATCH_L4_ONLY:
      return "L4-Only";
    case MEMBRANE_MATCH_ALL:
      return "all";
    case MEMBRANE_MATCH_L3_PROTO:
      return "L3-Proto";
    case MEMBRANE_MATCH_PROTO_ONLY:
      return "Proto-Only";
    default:
      return "none";
  }
}

namespace {
std::string addrPort(uint32_t be_addr, uint16_t be_port, bool with_port) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &be_addr, buf, sizeof(buf));
  std::string out(buf);
  if (with_port) out += ":" + std::to_string(ntohs(be_port));
  return out;
}
std::string_view protoName(uint8_t p) {
  switch (p) {
    case IPPROTO_TCP:
      return "TCP";
    case IPPROTO_UDP:
      return "UDP";
    case IPPROTO_ICMP:
      return "ICMPv4";
    case IPPROTO_SCTP:
      return "SCTP";
    default:
      return "?";
  }
}
}  // namespace

std::string formatFlowEvent(const FlowEvent& ev) {
  std::string out(ev.direction == MEMBRANE_DIR_EGRESS ? "egress " : "ingress ");
  out += verdictName(ev.verdict);
  if (ev.drop_reason != 0) out += " (" + std::string(dropReasonName(ev.drop_reason)) + ")";
  if (ev.eth_proto != htons(0x0800)) {
    return out + " ethertype 0x" + std::to_string(ntohs(ev.eth_proto));
  }
  const bool ports = ev.protocol != IPPROTO_ICMP;
  out += " " + addrPort(ev.saddr, ev.sport, ports) + " -> " + addrPort(ev.daddr, ev.dport, ports);
  out += " " + std::string(protoName(ev.protocol));
  if (ev.protocol == IPPROTO_ICMP) out += " type " + std::to_string(ev.icmp_type);
  out += " id " + std::to_string(ev.src_identity) + " -> " + std::to_string(ev.dst_identity);
  out += " ep " + std::to_string(ev.endpoint_id) + " ct " + std::string(ctStatusName(ev.ct_status));
  if (ev.match_type != MEMBRANE_MATCH_NONE) {
    out += " match " + std::string(matchTypeName(ev.match_type)) + " {" +
           std::to_string(ev.policy_identity) + ", " + std::to_string(ev.policy_protocol) + ", " +
           std::to_string(ev.policy_port) + "/" + std::to_string(ev.policy_prefix_len) +
           "} cookie " + std::to_string(ev.policy_cookie);
  }
  if (ev.proxy_port != 0) out += " proxy " + std::to_string(ev.proxy_port);
  return out;
}

// --- events ---------------------------------------------------------------------------------

Result<std::unique_ptr<EventReader>> EventReader::create(int ringbuf_fd) {
  std::unique_ptr<EventReader> r(new EventReader());
  r->rb_ = ring_buffer__new(ringbuf_fd, &EventReader::onSample, r.get(), nullptr);
  if (r->rb_ == nullptr) return errnoError(errno, "open ring buffer membrane_events");
  return r;
}

EventReader::~EventReader() {
  if (rb_ != nullptr) ring_buffer__free(rb_);
}

int EventReader::onSample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<EventReader*>(ctx);
  if (size < sizeof(FlowEvent) || self->current_ == nullptr) {
    ++self->malformed_;
    return 0;
  }
  FlowEvent ev;
  std::memcpy(&ev, data, sizeof(ev));
  (*self->current_)(ev);
  return 0;
}

Result<int> EventReader::poll(int timeout_ms, const Callback& fn) {
  current_ = &fn;
  int n = ring_buffer__poll(rb_, timeout_ms);
  current_ = nullptr;
  if (n < 0 && n != -EINTR) return errnoError(-n, "poll membrane_events");
  return n < 0 ? 0 : n;
}

Result<int> EventReader::consume(const Callback& fn) {
  current_ = &fn;
  int n = ring_buffer__consume(rb_);
  current_ = nullptr;
  if (n < 0) return errnoError(-n, "consume membrane_events");
  return n;
}

Result<std::vector<FlowEvent>> EventReader::drain() {
  std::vector<FlowEvent> out;
  auto n = consume([&](const FlowEvent& ev) { out.push_back(ev); });
  if (!n) return n.error();
  return out;
}

// --- conntrack ------------------------------------------------------------------------------

Result<std::vector<CtRecord>> readConntrack(const RawMap& ct) {
  auto typed = TypedMap<CtTuple, CtEntry>::wrap(const_cast<RawMap&>(ct));
  if (!typed) return typed.error();
  auto entries = typed->entries();
  if (!entries) return entries.error();
  std::vector<CtRecord> out;
  out.reserve(entries->size());
  for (const auto& [k, v] : *entries) out.push_back({k, v});
  return out;
}

uint64_t monotonicNowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

Result<size_t> collectExpiredConntrack(RawMap& ct, uint64_t now_ns) {
  auto records = readConntrack(ct);
  if (!records) return records.error();
  auto typed = TypedMap<CtTuple, CtEntry>::wrap(ct);
  size_t removed = 0;
  for (const CtRecord& r : *records) {
    if (r.entry.expires_ns >= now_ns) continue;
    auto e = typed->erase(r.tuple);
    if (!e) return e.error();
    removed += *e ? 1 : 0;
  }
  return removed;
}

// --- metrics --------------------------------------------------------------------------------

Result<std::vector<MetricsCounter>> readMetrics(int metrics_fd) {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return errnoError(-cpus, "count possible CPUs");
  std::vector<MetricsValue> per_cpu(static_cast<size_t>(cpus));
  std::vector<MetricsCounter> out;
  for (uint32_t idx = 0; idx < MEMBRANE_METRICS_SIZE; ++idx) {
    if (bpf_map_lookup_elem(metrics_fd, &idx, per_cpu.data()) != 0) {
      return errnoError(errno, "read membrane_metrics[" + std::to_string(idx) + "]");
    }
    MetricsCounter c{.direction = static_cast<uint8_t>(idx / 256 + 1),
                     .reason = static_cast<uint8_t>(idx % 256)};
    for (const MetricsValue& v : per_cpu) {
      c.packets += v.packets;
      c.bytes += v.bytes;
    }
    if (c.packets != 0) out.push_back(c);
  }
  return out;
}

MetricsCounter findMetric(const std::vector<MetricsCounter>& all, uint8_t direction,
                          uint8_t reason) {
  for (const MetricsCounter& c : all) {
    if (c.direction == direction && c.reason == reason) return c;
  }
  return {.direction = direction, .reason = reason};
}

}  // namespace membrane::dataplane
