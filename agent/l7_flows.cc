// SPDX-License-Identifier: Apache-2.0
#include "agent/l7_flows.h"

#include <charconv>
#include <nlohmann/json.hpp>

namespace membrane::agent {
namespace {

using nlohmann::json;

// "10.0.0.1:41234" -> address and port.
bool splitHostPort(const std::string& s, std::string* host, uint32_t* port) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = s.substr(0, colon);
  const char* b = s.data() + colon + 1;
  const char* e = s.data() + s.size();
  auto [p, ec] = std::from_chars(b, e, *port);
  return ec == std::errc() && p == e && *port <= 65535;
}

flow::Verdict verdictOf(const std::string& v) {
  if (v == "FORWARDED") return flow::FORWARDED;
  if (v == "DENIED") return flow::DROPPED;
  return flow::ERROR;
}

}  // namespace

std::optional<flow::Flow> l7FlowFromAccessRecord(const std::string& json_line,
                                                 const std::string& node_name, std::string* err) {
  json j = json::parse(json_line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *err = "not a JSON object";
    return std::nullopt;
  }
  for (const char* key : {"source", "destination", "method", "url", "verdict"}) {
    if (!j.contains(key) || !j[key].is_string()) {
      *err = std::string(key) + ": expected a string";
      return std::nullopt;
    }
  }
  for (const char* key :
       {"time_unix_ns", "code", "latency_ns", "source_identity", "destination_identity"}) {
    if (!j.contains(key) || !j[key].is_number_unsigned()) {
      *err = std::string(key) + ": expected a non-negative number";
      return std::nullopt;
    }
  }
  std::string src_ip, dst_ip;
  uint32_t src_port = 0, dst_port = 0;
  if (!splitHostPort(j["source"].get<std::string>(), &src_ip, &src_port) ||
      !splitHostPort(j["destination"].get<std::string>(), &dst_ip, &dst_port)) {
    *err = "source/destination: expected ip:port";
    return std::nullopt;
  }
  flow::Flow f;
  const uint64_t ns = j["time_unix_ns"].get<uint64_t>();
  f.mutable_time()->set_seconds(static_cast<int64_t>(ns / 1000000000ULL));
  f.mutable_time()->set_nanos(static_cast<int32_t>(ns % 1000000000ULL));
  f.set_type(flow::L7);
  f.set_node_name(node_name);
  f.set_verdict(verdictOf(j["verdict"].get<std::string>()));
  f.mutable_event_type()->set_type(kMessageTypeAccessLog);
  f.mutable_ip()->set_source(src_ip);
  f.mutable_ip()->set_destination(dst_ip);
  f.mutable_ip()->set_ipversion(flow::IPv4);
  f.mutable_l4()->mutable_tcp()->set_source_port(src_port);
  f.mutable_l4()->mutable_tcp()->set_destination_port(dst_port);
  f.mutable_source()->set_identity(j["source_identity"].get<uint32_t>());
  f.mutable_destination()->set_identity(j["destination_identity"].get<uint32_t>());
  flow::Layer7* l7 = f.mutable_l7();
  // The proxy records a request once its outcome is known: the response (or its own 403).
  l7->set_type(flow::RESPONSE);
  l7->set_latency_ns(j["latency_ns"].get<uint64_t>());
  flow::HTTP* http = l7->mutable_http();
  http->set_code(j["code"].get<uint32_t>());
  http->set_method(j["method"].get<std::string>());
  http->set_url(j["url"].get<std::string>());
  http->set_protocol(j.value("protocol", "HTTP/1.1"));
  return f;
}

}  // namespace membrane::agent
