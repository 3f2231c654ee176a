// SPDX-License-Identifier: Apache-2.0
#include "agent/flow_filter.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <set>

#include "model/ip.h"
#include "model/labels.h"

namespace membrane::agent {
namespace {

using Predicate = std::function<bool(const flow::Flow&)>;

Error bad(const std::string& where, const std::string& value, const std::string& expected) {
  return Error{.code = EINVAL, .context = where + ": \"" + value + "\": expected " + expected};
}

std::string at(const std::string& where, const char* field, int i) {
  return where + "." + field + "[" + std::to_string(i) + "]";
}

// '*' matches any run of characters.
bool glob(std::string_view pat, std::string_view s) {
  size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
    } else if (p < pat.size() && pat[p] == s[i]) {
      ++p;
      ++i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

using EndpointOf = const flow::Endpoint& (*)(const flow::Flow&);
const flow::Endpoint& srcEp(const flow::Flow& f) { return f.source(); }
const flow::Endpoint& dstEp(const flow::Flow& f) { return f.destination(); }

Result<Predicate> ipPredicate(const google::protobuf::RepeatedPtrField<std::string>& values,
                              bool source, const std::string& where, const char* field) {
  std::vector<model::Cidr> cidrs;
  for (int i = 0; i < values.size(); ++i) {
    std::string why;
    auto c = model::parseCidr(values[i], &why);
    if (!c || c->ipv6) return bad(at(where, field, i), values[i], "an IPv4 address or CIDR");
    cidrs.push_back(*c);
  }
  return Predicate([cidrs, source](const flow::Flow& f) {
    if (!f.has_ip()) return false;
    auto ip = model::parseIpv4(source ? f.ip().source() : f.ip().destination());
    if (!ip) return false;
    return std::any_of(cidrs.begin(), cidrs.end(),
                       [&](const model::Cidr& c) { return c.contains(*ip); });
  });
}

Predicate podPredicate(const google::protobuf::RepeatedPtrField<std::string>& values,
                       EndpointOf ep) {
  std::vector<std::pair<std::optional<std::string>, std::string>> pods;  // namespace, prefix
  for (const auto& v : values) {
    if (auto slash = v.find('/'); slash != std::string::npos) {
      pods.emplace_back(v.substr(0, slash), v.substr(slash + 1));
    } else {
      pods.emplace_back(std::nullopt, v);
    }
  }
  return [pods, ep](const flow::Flow& f) {
    const flow::Endpoint& e = ep(f);
    return std::any_of(pods.begin(), pods.end(), [&](const auto& p) {
      if (p.first && e.namespace_() != *p.first) return false;
      if (!p.first && e.pod_name().empty()) return false;
      return e.pod_name().rfind(p.second, 0) == 0;
    });
  };
}

// One term of a label selector: "k", "!k", "k=v", "k==v", "k!=v"; k may carry a source
// ("k8s:app"); without one any source matches.
struct LabelTerm {
  std::string source;  // empty = any
  std::string key;
  std::optional<std::string> value;
  bool negate = false;  // "!k" (no such label) or "k!=v"

  bool matches(const google::protobuf::RepeatedPtrField<std::string>& labels) const {
    bool found = false;
    for (const auto& l : labels) {
      const auto colon = l.find(':');
      const std::string_view src =
          colon == std::string::npos ? "" : std::string_view(l).substr(0, colon);
      std::string_view kv =
          colon == std::string::npos ? std::string_view(l) : std::string_view(l).substr(colon + 1);
      const auto eq = kv.find('=');
      const std::string_view k = kv.substr(0, eq);
      const std::string_view v = eq == std::string_view::npos ? "" : kv.substr(eq + 1);
      if (k != key || (!source.empty() && source != "any" && src != source)) continue;
      if (!value || v == *value) found = true;
    }
    return negate ? !found : found;
  }
};

std::optional<LabelTerm> parseTerm(std::string_view t, std::string* why) {
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  LabelTerm term;
  if (t.find('(') != std::string_view::npos || t.find(' ') != std::string_view::npos) {
    *why = "set-based selectors (in, notin) are not supported";
    return std::nullopt;
  }
  if (!t.empty() && t.front() == '!') {
    term.negate = true;
    t.remove_prefix(1);
  } else if (auto ne = t.find("!="); ne != std::string_view::npos) {
    term.negate = true;
    term.value = std::string(t.substr(ne + 2));
    t = t.substr(0, ne);
  } else if (auto eq = t.find('='); eq != std::string_view::npos) {
    const size_t skip = t.substr(eq).rfind("==", 0) == 0 ? 2 : 1;
    term.value = std::string(t.substr(eq + skip));
    t = t.substr(0, eq);
  }
  if (auto colon = t.find(':'); colon != std::string_view::npos) {
    term.source = std::string(t.substr(0, colon));
    t.remove_prefix(colon + 1);
  }
  term.key = std::string(t);
  std::string kwhy;
  if (term.key.empty() || !model::validLabelKey(term.key, &kwhy)) {
    *why = "a label key" + (kwhy.empty() ? std::string() : " (" + kwhy + ")");
    return std::nullopt;
  }
  return term;
}

Result<Predicate> labelPredicate(const google::protobuf::RepeatedPtrField<std::string>& values,
                                 EndpointOf ep, const std::string& where, const char* field) {
  std::vector<std::vector<LabelTerm>> selectors;
  for (int i = 0; i < values.size(); ++i) {
    std::vector<LabelTerm> terms;
    std::string_view s = values[i];
    while (true) {
      const auto comma = s.find(',');
      std::string why;
      auto t = parseTerm(s.substr(0, comma), &why);
      if (!t) return bad(at(where, field, i), values[i], "a label selector k=v,k!=v,k,!k: " + why);
      terms.push_back(std::move(*t));
      if (comma == std::string_view::npos) break;
      s.remove_prefix(comma + 1);
    }
    selectors.push_back(std::move(terms));
  }
  return Predicate([selectors, ep](const flow::Flow& f) {
    const auto& labels = ep(f).labels();
    return std::any_of(selectors.begin(), selectors.end(), [&](const auto& terms) {
      return std::all_of(terms.begin(), terms.end(),
                         [&](const LabelTerm& t) { return t.matches(labels); });
    });
  });
}

Result<Predicate> portPredicate(const google::protobuf::RepeatedPtrField<std::string>& values,
                                bool source, const std::string& where, const char* field) {
  std::set<uint32_t> ports;
  for (int i = 0; i < values.size(); ++i) {
    const std::string& v = values[i];
    uint32_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n > 65535) {
      return bad(at(where, field, i), v, "a port number 0-65535");
    }
    ports.insert(n);
  }
  return Predicate([ports, source](const flow::Flow& f) {
    const auto& l4 = f.l4();
    uint32_t port = 0;
    if (l4.has_tcp()) {
      port = source ? l4.tcp().source_port() : l4.tcp().destination_port();
    } else if (l4.has_udp()) {
      port = source ? l4.udp().source_port() : l4.udp().destination_port();
    } else if (l4.has_sctp()) {
      port = source ? l4.sctp().source_port() : l4.sctp().destination_port();
    } else {
      return false;
    }
    return ports.count(port) > 0;
  });
}

Result<Predicate> protocolPredicate(const google::protobuf::RepeatedPtrField<std::string>& values,
                                    const std::string& where) {
  std::set<flow::Layer4::ProtocolCase> cases;
  bool http = false;
  for (int i = 0; i < values.size(); ++i) {
    std::string v = values[i];
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
    if (v == "tcp") {
      cases.insert(flow::Layer4::kTCP);
    } else if (v == "udp") {
      cases.insert(flow::Layer4::kUDP);
    } else if (v == "sctp") {
      cases.insert(flow::Layer4::kSCTP);
    } else if (v == "icmp" || v == "icmpv4") {
      cases.insert(flow::Layer4::kICMPv4);
    } else if (v == "icmpv6") {
      cases.insert(flow::Layer4::kICMPv6);
    } else if (v == "http") {  // the L7 proxy's flows (docs/l7.md)
      http = true;
    } else if (v != "dns" && v != "kafka") {  // L7 without a proxy yet: no such flows
      return bad(at(where, "protocol", i), values[i],
                 "one of tcp, udp, sctp, icmp, icmpv4, icmpv6, http, dns, kafka");
    }
  }
  return Predicate([cases, http](const flow::Flow& f) {
    if (http && f.has_l7() && f.l7().has_http()) return true;
    return f.has_l4() && cases.count(f.l4().protocol_case()) > 0;
  });
}

template <typename T, typename Get>
Predicate anyOf(const google::protobuf::RepeatedField<T>& values, Get get) {
  std::vector<T> v(values.begin(), values.end());
  return [v, get](const flow::Flow& f) { return std::find(v.begin(), v.end(), get(f)) != v.end(); };
}

bool flagsInclude(const flow::TCPFlags& have, const flow::TCPFlags& want) {
  return (!want.fin() || have.fin()) && (!want.syn() || have.syn()) &&
         (!want.rst() || have.rst()) && (!want.psh() || have.psh()) &&
         (!want.ack() || have.ack()) && (!want.urg() || have.urg()) &&
         (!want.ece() || have.ece()) && (!want.cwr() || have.cwr()) && (!want.ns() || have.ns());
}

Predicate workloadPredicate(const google::protobuf::RepeatedPtrField<flow::Workload>& values,
                            EndpointOf ep) {
  std::vector<flow::Workload> w(values.begin(), values.end());
  return [w, ep](const flow::Flow& f) {
    for (const auto& have : ep(f).workloads()) {
      for (const auto& want : w) {
        if ((want.name().empty() || want.name() == have.name()) &&
            (want.kind().empty() || want.kind() == have.kind())) {
          return true;
        }
      }
    }
    return false;
  };
}

// The fields compileOne() evaluates; any other field set is refused.
const std::set<std::string>& supportedFields() {
  static const std::set<std::string> s = {"source_ip",
                                          "destination_ip",
                                          "source_pod",
                                          "destination_pod",
                                          "source_label",
                                          "destination_label",
                                          "source_identity",
                                          "destination_identity",
                                          "verdict",
                                          "drop_reason_desc",
                                          "event_type",
                                          "protocol",
                                          "source_port",
                                          "destination_port",
                                          "reply",
                                          "tcp_flags",
                                          "node_name",
                                          "traffic_direction",
                                          "ip_version",
                                          "source_cluster_name",
                                          "destination_cluster_name",
                                          "source_workload",
                                          "destination_workload",
                                          "encrypted"};
  return s;
}

Status checkFields(const flow::FlowFilter& f, const std::string& where) {
  const auto* refl = f.GetReflection();
  if (!refl->GetUnknownFields(f).empty()) {
    return Error{.code = EINVAL,
                 .context = where + ": a field unknown to membrane (field number " +
                            std::to_string(refl->GetUnknownFields(f).field(0).number()) + ")"};
  }
  std::vector<const google::protobuf::FieldDescriptor*> set;
  refl->ListFields(f, &set);
  for (const auto* fd : set) {
    if (!supportedFields().count(fd->name())) {
      return Error{.code = EINVAL,
                   .context = where + "." + fd->name() + ": filter not supported by membrane"};
    }
  }
  return {};
}

// The fields whose values must be parsed (and can be invalid).
Status compileParsed(const flow::FlowFilter& f, const std::string& w, std::vector<Predicate>& c) {
  std::vector<Result<Predicate>> parsed;
  if (f.source_ip_size()) parsed.push_back(ipPredicate(f.source_ip(), true, w, "source_ip"));
  if (f.destination_ip_size()) {
    parsed.push_back(ipPredicate(f.destination_ip(), false, w, "destination_ip"));
  }
  if (f.source_label_size()) {
    parsed.push_back(labelPredicate(f.source_label(), srcEp, w, "source_label"));
  }
  if (f.destination_label_size()) {
    parsed.push_back(labelPredicate(f.destination_label(), dstEp, w, "destination_label"));
  }
  if (f.source_port_size()) {
    parsed.push_back(portPredicate(f.source_port(), true, w, "source_port"));
  }
  if (f.destination_port_size()) {
    parsed.push_back(portPredicate(f.destination_port(), false, w, "destination_port"));
  }
  if (f.protocol_size()) parsed.push_back(protocolPredicate(f.protocol(), w));
  for (auto& p : parsed) {
    if (!p) return p.error();
    c.push_back(std::move(*p));
  }
  return {};
}

void compileEndpoints(const flow::FlowFilter& f, std::vector<Predicate>& c) {
  if (f.source_pod_size()) c.push_back(podPredicate(f.source_pod(), srcEp));
  if (f.destination_pod_size()) c.push_back(podPredicate(f.destination_pod(), dstEp));
  if (f.source_workload_size()) c.push_back(workloadPredicate(f.source_workload(), srcEp));
  if (f.destination_workload_size()) {
    c.push_back(workloadPredicate(f.destination_workload(), dstEp));
  }
  if (f.source_identity_size()) {
    c.push_back(
        anyOf(f.source_identity(), [](const flow::Flow& x) { return x.source().identity(); }));
  }
  if (f.destination_identity_size()) {
    c.push_back(anyOf(f.destination_identity(),
                      [](const flow::Flow& x) { return x.destination().identity(); }));
  }
  if (f.source_cluster_name_size()) {
    std::set<std::string> v(f.source_cluster_name().begin(), f.source_cluster_name().end());
    c.push_back([v](const flow::Flow& x) { return v.count(x.source().cluster_name()) > 0; });
  }
  if (f.destination_cluster_name_size()) {
    std::set<std::string> v(f.destination_cluster_name().begin(),
                            f.destination_cluster_name().end());
    c.push_back([v](const flow::Flow& x) { return v.count(x.destination().cluster_name()) > 0; });
  }
}

void compileSimple(const flow::FlowFilter& f, std::vector<Predicate>& c) {
  if (f.verdict_size())
    c.push_back(
        anyOf(f.verdict(), [](const flow::Flow& x) { return static_cast<int>(x.verdict()); }));
  if (f.drop_reason_desc_size()) {
    c.push_back(anyOf(f.drop_reason_desc(),
                      [](const flow::Flow& x) { return static_cast<int>(x.drop_reason_desc()); }));
  }
  if (f.traffic_direction_size()) {
    c.push_back(anyOf(f.traffic_direction(),
                      [](const flow::Flow& x) { return static_cast<int>(x.traffic_direction()); }));
  }
  if (f.ip_version_size()) {
    c.push_back(anyOf(f.ip_version(),
                      [](const flow::Flow& x) { return static_cast<int>(x.ip().ipversion()); }));
  }
  if (f.encrypted_size())
    c.push_back(anyOf(f.encrypted(), [](const flow::Flow& x) { return x.ip().encrypted(); }));
  if (f.reply_size()) {
    std::vector<bool> v(f.reply().begin(), f.reply().end());
    c.push_back([v](const flow::Flow& x) {
      return x.has_is_reply() && std::find(v.begin(), v.end(), x.is_reply().value()) != v.end();
    });
  }
  if (f.event_type_size()) {
    std::vector<flow::EventTypeFilter> v(f.event_type().begin(), f.event_type().end());
    c.push_back([v](const flow::Flow& x) {
      return std::any_of(v.begin(), v.end(), [&](const flow::EventTypeFilter& e) {
        return e.type() == x.event_type().type() &&
               (!e.match_sub_type() || e.sub_type() == x.event_type().sub_type());
      });
    });
  }
  if (f.tcp_flags_size()) {
    std::vector<flow::TCPFlags> v(f.tcp_flags().begin(), f.tcp_flags().end());
    c.push_back([v](const flow::Flow& x) {
      if (!x.l4().has_tcp()) return false;
      return std::any_of(v.begin(), v.end(), [&](const flow::TCPFlags& want) {
        return flagsInclude(x.l4().tcp().flags(), want);
      });
    });
  }
  if (f.node_name_size()) {
    std::vector<std::string> v(f.node_name().begin(), f.node_name().end());
    c.push_back([v](const flow::Flow& x) {
      return std::any_of(v.begin(), v.end(), [&](const std::string& pat) {
        // "cluster/node" patterns name the cluster too (Hubble's node_name filter).
        if (pat.find('/') != std::string::npos) {
          return glob(pat, x.source().cluster_name() + "/" + x.node_name());
        }
        return glob(pat, x.node_name());
      });
    });
  }
}

}  // namespace

Result<FlowFilters::Conjunction> FlowFilters::compileOne(const flow::FlowFilter& f,
                                                         const std::string& where) {
  if (auto s = checkFields(f, where); !s) return s.error();
  Conjunction c;
  if (auto s = compileParsed(f, where, c); !s) return s.error();
  compileEndpoints(f, c);
  compileSimple(f, c);
  return c;
}

Result<FlowFilters> FlowFilters::compile(const Filters& whitelist, const Filters& blacklist) {
  FlowFilters out;
  for (int i = 0; i < whitelist.size(); ++i) {
    auto c = compileOne(whitelist[i], "whitelist[" + std::to_string(i) + "]");
    if (!c) return c.error();
    out.white_.push_back(std::move(*c));
  }
  for (int i = 0; i < blacklist.size(); ++i) {
    auto c = compileOne(blacklist[i], "blacklist[" + std::to_string(i) + "]");
    if (!c) return c.error();
    out.black_.push_back(std::move(*c));
  }
  return out;
}

bool FlowFilters::match(const flow::Flow& f) const {
  auto all = [&f](const Conjunction& c) {
    return std::all_of(c.begin(), c.end(), [&f](const Predicate& p) { return p(f); });
  };
  if (!white_.empty() && std::none_of(white_.begin(), white_.end(), all)) return false;
  return std::none_of(black_.begin(), black_.end(), all);
}

}  // namespace membrane::agent
