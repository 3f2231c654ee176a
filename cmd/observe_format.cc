// SPDX-License-Identifier: Apache-2.0
// `membrane observe` output in hubble observe's formats: compact (one line), dict (a block
// per flow), table (columns), json (the flow as JSON), jsonpb (the GetFlowsResponse as
// JSON). membrane adds the deciding rule: "by KIND ns/name (file:line)".
#include <google/protobuf/util/json_util.h>
#include <time.h>

#include <cstdio>
#include <map>

#include "cmd/observe.h"

namespace membrane::cmd {
namespace {

std::string stamp(const google::protobuf::Timestamp& t) {
  const time_t secs = t.seconds();
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char b[48];
  std::strftime(b, sizeof(b), "%b %e %H:%M:%S", &tm);
  char ms[8];
  std::snprintf(ms, sizeof(ms), ".%03d", t.nanos() / 1000000);
  return std::string(b) + ms;
}

std::string port(const flow::Flow& f, bool source) {
  const auto& l4 = f.l4();
  uint32_t p = 0;
  if (l4.has_tcp()) {
    p = source ? l4.tcp().source_port() : l4.tcp().destination_port();
  } else if (l4.has_udp()) {
    p = source ? l4.udp().source_port() : l4.udp().destination_port();
  } else if (l4.has_sctp()) {
    p = source ? l4.sctp().source_port() : l4.sctp().destination_port();
  } else {
    return "";
  }
  return ":" + std::to_string(p);
}

// "shop/web-0:8080 (ID:12345)", or the address when no pod stands behind it.
std::string endpoint(const flow::Flow& f, bool source) {
  const flow::Endpoint& e = source ? f.source() : f.destination();
  std::string s = e.pod_name().empty() ? (source ? f.ip().source() : f.ip().destination())
                                       : e.namespace_() + "/" + e.pod_name();
  s += port(f, source);
  if (e.identity() != 0) s += " (ID:" + std::to_string(e.identity()) + ")";
  return s;
}

std::string tcpFlags(const flow::TCPFlags& f) {
  std::string s;
  auto add = [&s](bool on, const char* n) {
    if (on) s += (s.empty() ? "" : ", ") + std::string(n);
  };
  add(f.syn(), "SYN");
  add(f.ack(), "ACK");
  add(f.fin(), "FIN");
  add(f.rst(), "RST");
  add(f.psh(), "PSH");
  add(f.urg(), "URG");
  add(f.ece(), "ECE");
  add(f.cwr(), "CWR");
  return s;
}

std::string summary(const flow::Flow& f) {
  std::string s;
  if (f.has_l7() && f.l7().has_http()) {  // as hubble prints an http-response
    const flow::HTTP& h = f.l7().http();
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.1fms", static_cast<double>(f.l7().latency_ns()) / 1e6);
    return h.protocol() + " " + std::to_string(h.code()) + " " + ms + " " + h.method() + " " +
           h.url();
  }
  if (f.l4().has_tcp()) {
    s = "TCP Flags: " + tcpFlags(f.l4().tcp().flags());
  } else if (f.l4().has_udp()) {
    s = "UDP";
  } else if (f.l4().has_icmpv4()) {
    s = "ICMPv4 type " + std::to_string(f.l4().icmpv4().type()) + " code " +
        std::to_string(f.l4().icmpv4().code());
  } else if (!f.has_ip()) {
    s = "non-IPv4";
  }
  return s;
}

// Hubble's drop reason descriptions for the reasons membrane reports.
std::string dropDesc(const flow::Flow& f) {
  static const std::map<int, const char*> kDesc = {
      {132, "Invalid source ip"},
      {133, "Policy denied"},
      {134, "Invalid packet"},
      {135, "CT: Truncated or invalid header"},
      {139, "Unsupported L3 protocol"},
      {142, "Unknown L4 protocol"},
      {150, "Unknown L3 target address"},
      {155, "CT: Map insertion failed"},
      {157, "IP fragmentation not supported"},
      {163, "Unknown connection tracking state"},
      {165, "No configuration available to perform policy decision"},
      {166, "Unsupported L2 protocol"},
      {171, "Invalid identity"},
      {172, "Unknown sender"},
      {178, "Proxy lookup failed"},
      {181, "Policy denied by denylist"}};
  auto it = kDesc.find(f.drop_reason_desc());
  return it != kDesc.end() ? it->second : flow::DropReason_Name(f.drop_reason_desc());
}

std::string eventType(const flow::Flow& f) {
  if (f.has_l7()) return "http-response";  // the proxy's record of a request and its answer
  if (f.verdict() == flow::DROPPED) return dropDesc(f);
  switch (f.trace_observation_point()) {
    case flow::TO_ENDPOINT:
      return "to-endpoint";
    case flow::FROM_ENDPOINT:
      return "from-endpoint";
    default:
      return "trace";
  }
}

// membrane: the rule that decided, with where it is written.
std::string decidedBy(const flow::Flow& f) {
  const google::protobuf::RepeatedPtrField<flow::Policy>* lists[] = {
      &f.ingress_denied_by(), &f.egress_denied_by(), &f.ingress_allowed_by(),
      &f.egress_allowed_by()};
  for (const auto* l : lists) {
    for (const auto& p : *l) {
      std::string s =
          "by " + p.kind() + " " + (p.namespace_().empty() ? "" : p.namespace_() + "/") + p.name();
      if (!p.membrane_rule().empty()) s += " " + p.membrane_rule();
      if (!p.membrane_source().name().empty()) {
        s += " (" + p.membrane_source().name() + ":" + std::to_string(p.membrane_source().line()) +
             ")";
      }
      return s;
    }
  }
  return "";
}

std::string direction(const flow::Flow& f) {
  return f.traffic_direction() == flow::EGRESS ? "egress" : "ingress";
}

void printFlow(const observer::GetFlowsResponse& r, const ObserveOptions& o, std::ostream& out) {
  const flow::Flow& f = r.flow();
  const std::string arrow = f.verdict() == flow::DROPPED ? " <> " : " -> ";
  const std::string verdict = flow::Verdict_Name(f.verdict());
  std::string sum = summary(f);
  const std::string by = decidedBy(f);
  if (o.output == "dict") {
    out << "  TIMESTAMP: " << stamp(f.time()) << "\n";
    if (o.print_node) out << "       NODE: " << f.node_name() << "\n";
    out << "     SOURCE: " << endpoint(f, true) << "\n"
        << "DESTINATION: " << endpoint(f, false) << "\n"
        << "       TYPE: " << eventType(f) << "\n"
        << "    VERDICT: " << verdict << "\n"
        << "    SUMMARY: " << sum << "\n"
        << "  DIRECTION: " << direction(f) << "\n";
    if (!by.empty()) out << "     POLICY: " << by.substr(3) << "\n";
    out << "------------\n";
  } else if (o.output == "table") {
    out << stamp(f.time()) << "\t" << (o.print_node ? f.node_name() + "\t" : "")
        << endpoint(f, true) << "\t" << endpoint(f, false) << "\t" << eventType(f) << "\t"
        << verdict << "\t" << sum << (by.empty() ? "" : " " + by) << "\n";
  } else {
    out << stamp(f.time()) << (o.print_node ? " [" + f.node_name() + "]" : "") << ": "
        << endpoint(f, true) << arrow << endpoint(f, false) << " " << eventType(f) << " " << verdict
        << " (" << sum << ")" << (by.empty() ? "" : " " + by) << "\n";
  }
}

}  // namespace

void printTableHeader(const ObserveOptions& o, std::ostream& out) {
  if (o.output != "table") return;
  out << "TIMESTAMP\t" << (o.print_node ? "NODE\t" : "")
      << "SOURCE\tDESTINATION\tTYPE\tVERDICT\tSUMMARY\n";
}

void printResponse(const observer::GetFlowsResponse& r, const ObserveOptions& o,
                   std::ostream& out) {
  google::protobuf::util::JsonPrintOptions jo;
  jo.preserve_proto_field_names = true;  // as hubble observe prints (protojson UseProtoNames)
  if (o.output == "jsonpb" || (o.output == "json" && r.has_flow())) {
    std::string s;
    const google::protobuf::Message& m =
        o.output == "json" ? static_cast<const google::protobuf::Message&>(r.flow()) : r;
    (void)google::protobuf::util::MessageToJsonString(m, &s, jo);
    out << s << "\n";
    return;
  }
  if (r.has_lost_events()) {
    if (o.output == "json") return;
    out << "EVENTS LOST: " << flow::LostEventSource_Name(r.lost_events().source()) << " "
        << r.lost_events().num_events_lost() << (o.print_node ? " [" + r.node_name() + "]" : "")
        << "\n";
    return;
  }
  if (r.has_flow()) printFlow(r, o, out);
}

}  // namespace membrane::cmd
