// SPDX-License-Identifier: Apache-2.0
// `membrane observe`: builds hubble observe's GetFlowsRequest from its flags and reads the
// flows of every --server, each on a thread of its own; a node that does not answer is
// reported by name while the others' flows still print.
#include "cmd/observe.h"

#include <grpcpp/grpcpp.h>
#include <time.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "cmd/common.h"
#include "cmd/store_flags.h"
#include "kvstore/registry.h"
#include "observer/observer.grpc.pb.h"

namespace membrane::cmd {
namespace {

constexpr const char* kDefaultServer = "unix:///var/run/membrane/hubble.sock";
constexpr int kExitNodeFailed = 1;   // some node did not answer (the others' flows printed)
constexpr int kExitNothingRead = 6;  // no node could be read

constexpr const char* kHelp = R"(membrane observe [FLAGS]
  Flows of one agent or several (Hubble's Observer API; docs/observe.md), with hubble
  observe's flags and formats.

Selecting nodes:
  --server ADDR         an agent's Observer: unix:///path/hubble.sock or host:port;
                        repeat for several nodes (default unix:///var/run/membrane/hubble.sock)
  --etcd-endpoints URLS every node of the cluster: the nodes the store lists, each at the
                        Observer address its agent publishes (observerListen on its node IP);
                        with --etcd-prefix P, --etcd-ca/--etcd-cert/--etcd-key FILE,
                        --etcd-timeout-ms N as for membrane apply
Filters (the same flag repeated: any value; different flags: all must match):
  --from-pod [NS/]POD   source pod (name prefix; NS defaults to --namespace or "default")
  --to-pod [NS/]POD     destination pod
  --pod [NS/]POD        either side
  --namespace NS        pods of NS (either side), and the namespace of --*pod without one
  --from-label SEL, --to-label SEL, --label SEL
                        label selector: k=v,k!=v,k,!k (a key may carry a source: k8s:app)
  --from-ip IP, --to-ip IP, --ip IP          address or CIDR
  --from-identity N, --to-identity N, --identity N
  --from-port P, --to-port P, --port P
  --protocol P          tcp, udp, sctp, icmp (icmpv4), icmpv6
  --verdict V           FORWARDED, DROPPED, AUDIT, REDIRECTED, ERROR, TRACED, TRANSLATED
  -t, --type T          drop, trace, policy-verdict, l7
  --traffic-direction D ingress or egress
  --node-name NAME      node name (glob with *)
Which flows:
  --last N              the last N flows of each node (default 20 without -f/--since)
  --first N             the first N flows the nodes hold
  --all                 every flow the nodes hold
  --since T, --until T  RFC 3339 time (2026-12-03T16:00:00Z) or a duration ago (5m, 1h30m)
  -f, --follow          keep printing new flows until interrupted
Output:
  -o, --output FMT      compact (default), dict, table, json (the flow), jsonpb (the response)
  -h, --help            this help

Exit codes:
  0  every node answered
  1  some node did not answer (named on stderr; the other nodes' flows were printed)
  2  wrong usage or a filter the agent refused (INVALID_ARGUMENT)
  5  the store (--etcd-endpoints) could not be read
  6  no node could be read
)";

struct Filters {
  flow::FlowFilter both;  // every flag that has no side
  flow::FlowFilter src;   // the source half of --pod/--ip/... (either side)
  flow::FlowFilter dst;   // the destination half
  bool either = false;
};

std::optional<uint32_t> number(const std::string& v, uint32_t max) {
  uint32_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n > max) return std::nullopt;
  return n;
}

std::string podArg(const std::string& v, const std::string& ns) {
  if (v.find('/') != std::string::npos) return v;
  return (ns.empty() ? "default" : ns) + "/" + v;
}

std::optional<flow::Verdict> verdictArg(std::string v) {
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::toupper(c); });
  flow::Verdict out{};
  if (!flow::Verdict_Parse(v, &out) || out == flow::VERDICT_UNKNOWN) return std::nullopt;
  return out;
}

std::optional<int> typeArg(const std::string& v) {
  static const std::map<std::string, int> kTypes = {
      {"drop", 1}, {"trace", 4}, {"policy-verdict", 5}, {"l7", 129}};
  auto it = kTypes.find(v);
  if (it == kTypes.end()) return std::nullopt;
  return it->second;
}

struct Parser {
  ObserveOptions o;
  Filters f;
  std::vector<std::pair<std::string, std::string>> pods;  // flag, value (namespace later)
  std::string ns;
  std::optional<uint64_t> last, first;
  bool all = false;
  std::string since, until;
  std::string error;

  bool fail(const std::string& e) {
    error = e;
    return false;
  }
  bool option(const std::string& flag, const std::string& v);
  // The flags naming one side or either side of a flow; false when `flag` is not one.
  bool sideOption(const std::string& flag, const std::string& v, bool& ok);
  bool finish();
};

bool Parser::sideOption(const std::string& flag, const std::string& v, bool& ok) {
  ok = true;
  if (flag == "--from-pod" || flag == "--to-pod" || flag == "--pod") {
    pods.emplace_back(flag, v);
  } else if (flag == "--namespace") {
    ns = v;
  } else if (flag == "--from-label") {
    f.both.add_source_label(v);
  } else if (flag == "--to-label") {
    f.both.add_destination_label(v);
  } else if (flag == "--label") {
    f.src.add_source_label(v), f.dst.add_destination_label(v), f.either = true;
  } else if (flag == "--from-ip") {
    f.both.add_source_ip(v);
  } else if (flag == "--to-ip") {
    f.both.add_destination_ip(v);
  } else if (flag == "--ip") {
    f.src.add_source_ip(v), f.dst.add_destination_ip(v), f.either = true;
  } else if (flag == "--from-port") {
    f.both.add_source_port(v);
  } else if (flag == "--to-port") {
    f.both.add_destination_port(v);
  } else if (flag == "--port") {
    f.src.add_source_port(v), f.dst.add_destination_port(v), f.either = true;
  } else if (flag == "--from-identity" || flag == "--to-identity" || flag == "--identity") {
    auto n = number(v, UINT32_MAX);
    if (!n) {
      ok = fail(flag + ": \"" + v + "\": expected an identity number");
      return true;
    }
    if (flag == "--from-identity") f.both.add_source_identity(*n);
    if (flag == "--to-identity") f.both.add_destination_identity(*n);
    if (flag == "--identity") {
      f.src.add_source_identity(*n), f.dst.add_destination_identity(*n), f.either = true;
    }
  } else {
    return false;
  }
  return true;
}

bool Parser::option(const std::string& flag, const std::string& v) {
  if (bool ok = true; sideOption(flag, v, ok)) return ok;
  if (flag == "--server") {
    o.servers.push_back(v);
  } else if (flag == "--etcd-endpoints" || flag == "--etcd-prefix" || flag == "--etcd-ca" ||
             flag == "--etcd-cert" || flag == "--etcd-key" || flag == "--etcd-timeout-ms") {
    o.store_flags[flag] = v;
  } else if (flag == "--protocol") {
    f.both.add_protocol(v);
  } else if (flag == "--verdict") {
    auto vd = verdictArg(v);
    if (!vd) return fail("--verdict: \"" + v + "\": expected FORWARDED, DROPPED, AUDIT, ...");
    f.both.add_verdict(*vd);
  } else if (flag == "-t" || flag == "--type") {
    auto t = typeArg(v);
    if (!t) return fail(flag + ": \"" + v + "\": expected drop, trace, policy-verdict or l7");
    f.both.add_event_type()->set_type(*t);
  } else if (flag == "--traffic-direction") {
    if (v != "ingress" && v != "egress") {
      return fail("--traffic-direction: \"" + v + "\": expected ingress or egress");
    }
    f.both.add_traffic_direction(v == "ingress" ? flow::INGRESS : flow::EGRESS);
  } else if (flag == "--node-name") {
    f.both.add_node_name(v);
  } else if (flag == "--last" || flag == "--first") {
    auto n = number(v, UINT32_MAX);
    if (!n || *n == 0) return fail(flag + ": \"" + v + "\": expected a positive number");
    (flag == "--last" ? last : first) = *n;
  } else if (flag == "--since") {
    since = v;
  } else if (flag == "--until") {
    until = v;
  } else if (flag == "-o" || flag == "--output") {
    if (v != "compact" && v != "dict" && v != "json" && v != "jsonpb" && v != "table") {
      return fail(flag + ": \"" + v + "\": expected compact, dict, json, jsonpb or table");
    }
    o.output = v;
  } else {
    return fail("unknown option " + flag);
  }
  return true;
}

bool setTime(const std::string& flag, const std::string& v, google::protobuf::Timestamp* t) {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto ns = parseTimeArg(v, now);
  if (!ns) return false;
  t->set_seconds(*ns / 1000000000LL);
  t->set_nanos(static_cast<int32_t>(*ns % 1000000000LL));
  (void)flag;
  return true;
}

bool Parser::finish() {
  for (const auto& [flag, v] : pods) {
    const std::string p = podArg(v, ns);
    if (flag == "--from-pod") f.both.add_source_pod(p);
    if (flag == "--to-pod") f.both.add_destination_pod(p);
    if (flag == "--pod") f.src.add_source_pod(p), f.dst.add_destination_pod(p), f.either = true;
  }
  if (pods.empty() && !ns.empty()) {
    f.src.add_source_pod(ns + "/"), f.dst.add_destination_pod(ns + "/"), f.either = true;
  }
  auto& req = o.request;
  if (f.either) {
    f.src.MergeFrom(f.both);
    f.dst.MergeFrom(f.both);
    *req.add_whitelist() = f.src;
    *req.add_whitelist() = f.dst;
  } else if (f.both.ByteSizeLong() > 0) {
    *req.add_whitelist() = f.both;
  }
  if (last && first) return fail("--last and --first: give one of them");
  if (first && o.request.follow()) return fail("--first cannot be combined with --follow");
  if (!since.empty() && !setTime("--since", since, req.mutable_since())) {
    return fail("--since: \"" + since + "\": expected an RFC 3339 time or a duration (5m)");
  }
  if (!until.empty() && !setTime("--until", until, req.mutable_until())) {
    return fail("--until: \"" + until + "\": expected an RFC 3339 time or a duration (5m)");
  }
  if (first) {
    req.set_first(true);
    req.set_number(*first);
  } else if (last) {
    req.set_number(*last);
  } else if (!all && !req.follow() && since.empty()) {
    req.set_number(20);  // hubble observe's default
  }
  if (!o.store_flags.empty() && !o.store_flags.count("--etcd-endpoints")) {
    return fail("--etcd-prefix/--etcd-ca/...: give --etcd-endpoints too");
  }
  if (o.servers.empty() && o.store_flags.empty()) o.servers.push_back(kDefaultServer);
  o.print_node = o.servers.size() > 1 || !o.store_flags.empty();
  return true;
}

}  // namespace

std::optional<int64_t> parseTimeArg(const std::string& s, int64_t now_ns) {
  // A duration: digits and units h, m, s, ms (in that order or any), e.g. "1h30m".
  if (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0])) &&
      s.find_first_of("-:T") == std::string::npos) {
    int64_t total = 0;
    size_t i = 0;
    while (i < s.size()) {
      size_t j = i;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      if (j == i || j - i > 9) return std::nullopt;
      const int64_t n = std::stoll(s.substr(i, j - i));
      size_t k = j;
      while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k]))) ++k;
      const std::string unit = s.substr(j, k - j);
      static const std::map<std::string, int64_t> kUnit = {{"h", 3600'000'000'000LL},
                                                           {"m", 60'000'000'000LL},
                                                           {"s", 1'000'000'000LL},
                                                           {"ms", 1'000'000LL}};
      auto u = kUnit.find(unit);
      if (u == kUnit.end()) return std::nullopt;
      total += n * u->second;
      i = k;
    }
    return now_ns - total;
  }
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return std::nullopt;
  int64_t frac = 0;
  if (*rest == '.') {
    int64_t scale = 100000000;
    for (++rest; std::isdigit(static_cast<unsigned char>(*rest)); ++rest, scale /= 10) {
      frac += (*rest - '0') * scale;
    }
  }
  int64_t offset = 0;
  if (*rest == 'Z') {
    ++rest;
  } else if ((*rest == '+' || *rest == '-') && std::strlen(rest) == 6 && rest[3] == ':') {
    const int sign = *rest == '-' ? -1 : 1;
    offset = sign * (std::stoll(std::string(rest + 1, 2)) * 3600 +
                     std::stoll(std::string(rest + 4, 2)) * 60);
    rest += 6;
  } else {
    return std::nullopt;
  }
  if (*rest != '\0') return std::nullopt;
  return (static_cast<int64_t>(timegm(&tm)) - offset) * 1000000000LL + frac;
}

std::optional<ObserveOptions> parseObserveArgs(int argc, char** argv, std::string& error,
                                               bool& help) {
  Parser p;
  help = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      help = true;
      return std::nullopt;
    }
    if (a == "-f" || a == "--follow") {
      p.o.request.set_follow(true);
      continue;
    }
    if (a == "--all") {
      p.all = true;
      continue;
    }
    std::string v;
    if (auto eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (!a.starts_with("-")) {
      error = "unexpected argument \"" + a + "\"";
      return std::nullopt;
    } else if (i + 1 < argc) {
      v = argv[++i];
    } else {
      error = a + " needs a value";
      return std::nullopt;
    }
    if (!p.option(a, v)) {
      error = p.error;
      return std::nullopt;
    }
  }
  if (!p.finish()) {
    error = p.error;
    return std::nullopt;
  }
  return p.o;
}

namespace {

struct NodeResult {
  std::string server;
  std::string name;  // the store's node name (nodes listed by the store)
  grpc::Status status;
  std::vector<observer::GetFlowsResponse> held;  // without --follow: merged, sorted
};

// Reads one node; with --follow prints as flows arrive (under `mu`).
void readNode(const ObserveOptions& o, NodeResult& res, std::mutex& mu) {
  if (!res.status.ok()) return;  // known unreadable (no Observer published)
  auto channel = grpc::CreateChannel(res.server, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
    res.status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "not answering (5 s)");
    return;
  }
  auto stub = observer::Observer::NewStub(channel);
  grpc::ClientContext ctx;
  if (!o.request.follow()) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  }
  auto reader = stub->GetFlows(&ctx, o.request);
  observer::GetFlowsResponse r;
  while (reader->Read(&r)) {
    if (o.request.follow()) {
      std::lock_guard lock(mu);
      printResponse(r, o, std::cout);
      std::cout.flush();
    } else {
      res.held.push_back(r);
    }
  }
  res.status = reader->Finish();
}

// The nodes the store lists, each at its published Observer address (a node that publishes
// none is a failed node, named). An unreachable store is exit 5; an empty one exit 6.
int addStoreNodes(const std::map<std::string, std::string>& flags, std::vector<NodeResult>& out) {
  std::string error;
  auto f = storeFlags(flags, error);
  if (!f) {
    std::cerr << "error: " << error << "\n";
    return kExitBadInput;
  }
  auto client = kvstore::Client::create(f->client);
  if (!client) {
    std::cerr << "error: " << client.error().message << "\n";
    return kExitStore;
  }
  auto listed = kvstore::listNodes(**client, kvstore::Layout(f->prefix));
  if (!listed) {
    std::cerr << "error: store: " << listed.error().message << "\n";
    return kExitStore;
  }
  if (listed->empty() && out.empty()) {
    std::cerr << "error: the store lists no node under " << f->prefix << "nodes/\n";
    return kExitNothingRead;
  }
  for (const auto& n : *listed) {
    NodeResult r{.server = n.observer.empty() ? "-" : n.observer, .name = n.name};
    if (n.observer.empty()) {
      r.status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "publishes no Observer address (its agent needs observerListen on "
                              "the node's IP)");
    }
    out.push_back(std::move(r));
  }
  return kExitOk;
}

int64_t ns(const google::protobuf::Timestamp& t) { return t.seconds() * 1000000000LL + t.nanos(); }

}  // namespace

int cmdObserve(int argc, char** argv) {
  std::string error;
  bool help = false;
  auto o = parseObserveArgs(argc, argv, error, help);
  if (help) {
    std::cout << "Usage: " << kHelp;
    return kExitOk;
  }
  if (!o) {
    std::cerr << "error: " << error << "\n(membrane observe --help: usage and exit codes)\n";
    return kExitBadInput;
  }
  std::vector<NodeResult> nodes(o->servers.size());
  for (size_t i = 0; i < nodes.size(); ++i) nodes[i].server = o->servers[i];
  if (!o->store_flags.empty()) {
    if (int rc = addStoreNodes(o->store_flags, nodes); rc != kExitOk) return rc;
  }
  std::mutex mu;
  printTableHeader(*o, std::cout);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < nodes.size(); ++i) {
    threads.emplace_back([&, i] { readNode(*o, nodes[i], mu); });
  }
  for (auto& t : threads) t.join();
  // Without --follow: the nodes' flows merged in time order; --last/--first over all.
  std::vector<observer::GetFlowsResponse> all;
  for (auto& n : nodes) all.insert(all.end(), n.held.begin(), n.held.end());
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return ns(a.time()) < ns(b.time()); });
  const uint64_t n = o->request.number();
  size_t from = 0, to = all.size();
  if (n > 0 && all.size() > n)
    (o->request.first() ? to : from) = o->request.first() ? n : all.size() - n;
  for (size_t i = from; i < to; ++i) printResponse(all[i], *o, std::cout);
  size_t failed = 0;
  bool invalid = false;
  for (const auto& node : nodes) {
    if (node.status.ok()) continue;
    ++failed;
    invalid |= node.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT;
    std::cerr << "error: node "
              << (node.name.empty() ? node.server : node.name + " (" + node.server + ")") << ": "
              << node.status.error_message() << "\n";
  }
  if (invalid) return kExitBadInput;
  if (failed == nodes.size()) return kExitNothingRead;
  return failed > 0 ? kExitNodeFailed : kExitOk;
}

}  // namespace membrane::cmd
