// SPDX-License-Identifier: Apache-2.0
#include "sim/agent_flows.h"

#include <arpa/inet.h>

#include <chrono>

#include "dataplane/observe.h"
#include "observer/observer.grpc.pb.h"

namespace membrane::sim {
namespace {

uint32_t beAddr(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1 ? a.s_addr : 0;
}

void fillL4(const flow::Layer4& l4, dataplane::FlowEvent& ev) {
  if (l4.has_tcp()) {
    ev.protocol = IPPROTO_TCP;
    ev.sport = htons(static_cast<uint16_t>(l4.tcp().source_port()));
    ev.dport = htons(static_cast<uint16_t>(l4.tcp().destination_port()));
    const auto& f = l4.tcp().flags();
    ev.tcp_flags = static_cast<uint8_t>(f.fin() | f.syn() << 1 | f.rst() << 2 | f.psh() << 3 |
                                        f.ack() << 4 | f.urg() << 5 | f.ece() << 6 | f.cwr() << 7);
  } else if (l4.has_udp()) {
    ev.protocol = IPPROTO_UDP;
    ev.sport = htons(static_cast<uint16_t>(l4.udp().source_port()));
    ev.dport = htons(static_cast<uint16_t>(l4.udp().destination_port()));
  } else if (l4.has_sctp()) {
    ev.protocol = IPPROTO_SCTP;
    ev.sport = htons(static_cast<uint16_t>(l4.sctp().source_port()));
    ev.dport = htons(static_cast<uint16_t>(l4.sctp().destination_port()));
  } else if (l4.has_icmpv4()) {
    ev.protocol = IPPROTO_ICMP;
    ev.icmp_type = static_cast<uint8_t>(l4.icmpv4().type());
    ev.icmp_code = static_cast<uint8_t>(l4.icmpv4().code());
  }
}

void describe(const char* what, const google::protobuf::RepeatedPtrField<flow::Policy>& ps,
              std::string& out) {
  for (const auto& p : ps) {
    if (!out.empty()) out += "; ";
    out += std::string(what) + " by " + p.kind() + " " +
           (p.namespace_().empty() ? "" : p.namespace_() + "/") + p.name();
    if (!p.membrane_source().name().empty()) {
      out += " (" + p.membrane_source().name() + ":" + std::to_string(p.membrane_source().line()) +
             (p.membrane_rule().empty() ? "" : " " + p.membrane_rule()) + ")";
    }
  }
}

}  // namespace

AgentFlow agentFlowFromHubble(const flow::Flow& f) {
  AgentFlow out;
  dataplane::FlowEvent& ev = out.ev;
  ev.type = MEMBRANE_EVENT_FLOW;
  ev.verdict = static_cast<uint8_t>(f.verdict());
  ev.drop_reason = static_cast<uint8_t>(
      f.verdict() == flow::DROPPED ? f.drop_reason() : static_cast<uint32_t>(f.drop_reason_desc()));
  const bool egress = f.traffic_direction() == flow::EGRESS;
  ev.direction = egress ? MEMBRANE_DIR_EGRESS : MEMBRANE_DIR_INGRESS;
  if (f.trace_reason() != flow::TRACE_REASON_UNKNOWN) {
    ev.ct_status = static_cast<uint8_t>(f.trace_reason() - 1);
  }
  ev.match_type = static_cast<uint8_t>(f.policy_match_type());
  ev.endpoint_id = static_cast<uint16_t>(egress ? f.source().id() : f.destination().id());
  ev.ifindex = f.interface().index();
  ev.src_identity = f.source().identity();
  ev.dst_identity = f.destination().identity();
  ev.proxy_port = static_cast<uint16_t>(f.proxy_port());
  if (f.has_ip()) {
    ev.eth_proto = htons(0x0800);
    ev.saddr = beAddr(f.ip().source());
    ev.daddr = beAddr(f.ip().destination());
    fillL4(f.l4(), ev);
  }
  describe("egress allowed", f.egress_allowed_by(), out.policies);
  describe("ingress allowed", f.ingress_allowed_by(), out.policies);
  describe("egress denied", f.egress_denied_by(), out.policies);
  describe("ingress denied", f.ingress_denied_by(), out.policies);
  return out;
}

std::string formatAgentFlow(const AgentFlow& f) {
  dataplane::FlowEvent ev = f.ev;
  ev.match_type = MEMBRANE_MATCH_NONE;  // the entry's key is not part of a flow
  std::string out = dataplane::formatFlowEvent(ev);
  if (f.ev.match_type != MEMBRANE_MATCH_NONE) {
    out += " match " + std::string(dataplane::matchTypeName(f.ev.match_type));
  }
  if (!f.policies.empty()) out += " [" + f.policies + "]";
  return out;
}

dataplane::Result<std::unique_ptr<AgentFlowStream>> AgentFlowStream::open(
    const std::string& socket) {
  std::unique_ptr<AgentFlowStream> s(new AgentFlowStream());
  const int64_t since = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  s->thread_ = std::thread([p = s.get(), socket, since] { p->run(socket, since); });
  // Connected before the first probe: flows from `since` on are in the agent's ring
  // anyway, this only turns a dead socket into an error here.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!s->connected_ && s->error().empty() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!s->connected_) {
    const std::string why = s->error().empty() ? "no stream within 10 s" : s->error();
    return dataplane::Error{.code = ECONNREFUSED,
                            .context = "Observer GetFlows on " + socket + ": " + why};
  }
  return s;
}

void AgentFlowStream::run(const std::string& socket, int64_t since_ns) {
  auto channel = grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials());
  auto stub = observer::Observer::NewStub(channel);
  observer::GetFlowsRequest req;
  req.set_follow(true);
  req.mutable_since()->set_seconds(since_ns / 1000000000);
  req.mutable_since()->set_nanos(static_cast<int32_t>(since_ns % 1000000000));
  ctx_.set_wait_for_ready(true);
  auto reader = stub->GetFlows(&ctx_, req);
  // The server answers once the call is set up: initial metadata marks the connection.
  reader->WaitForInitialMetadata();
  connected_ = true;
  observer::GetFlowsResponse r;
  while (reader->Read(&r)) {
    if (!r.has_flow()) continue;
    AgentFlow f = agentFlowFromHubble(r.flow());
    std::lock_guard lock(mu_);
    pending_.push_back(std::move(f));
  }
  const grpc::Status st = reader->Finish();
  std::lock_guard lock(mu_);
  if (st.error_code() != grpc::StatusCode::CANCELLED) {
    error_ = st.ok() ? "the stream ended" : st.error_message();
  }
}

std::vector<AgentFlow> AgentFlowStream::drain() {
  std::lock_guard lock(mu_);
  std::vector<AgentFlow> out;
  out.swap(pending_);
  return out;
}

std::string AgentFlowStream::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

AgentFlowStream::~AgentFlowStream() {
  ctx_.TryCancel();
  if (thread_.joinable()) thread_.join();
}

}  // namespace membrane::sim
