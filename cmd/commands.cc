// SPDX-License-Identifier: Apache-2.0
// membrane show | check | explain | policy
#include <charconv>
#include <iomanip>
#include <map>
#include <sstream>

#include "cmd/args.h"
#include "model/explain.h"
#include "model/l7_decide.h"
#include "model/mapstate.h"
#include "model/service_view.h"
#include "sim/corpus_case.h"

namespace membrane::cmd {

void printDiagnostics(const model::Diagnostics& d, std::ostream& out) {
  for (const auto& w : d.warnings()) out << "warning: " << w.str() << "\n";
  for (const auto& e : d.errors()) out << "error: " << e.str() << "\n";
}

namespace {

std::string labelsOf(const model::StringMap& m) {
  std::string s;
  for (const auto& [k, v] : m) s += (s.empty() ? "" : ",") + k + "=" + v;
  return s.empty() ? "<none>" : s;
}

}  // namespace

namespace {

// Services with their frontends and each backend's ports after DNAT (docs/policy-semantics.md).
void showServices(const model::Cluster& c) {
  if (c.services.empty()) return;
  std::cout << "\nservices (" << c.services.size() << "):\n";
  for (const auto& s : c.services) {
    std::cout << "  " << s.ref() << "  " << model::serviceTypeName(s.type) << " "
              << (s.headless     ? "None"
                  : s.cluster_ip ? model::formatIpv4(*s.cluster_ip)
                                 : "-");
    for (auto ip : s.external_ips) std::cout << "  externalIP " << model::formatIpv4(ip);
    for (auto ip : s.load_balancer_ips) std::cout << "  loadBalancer " << model::formatIpv4(ip);
    for (const auto& p : s.ports) {
      std::cout << "  " << p.port << "/" << model::protocolName(p.protocol) << "->" << p.target_port
                << (p.node_port ? " nodePort " + std::to_string(p.node_port) : "");
    }
    if (s.affinity_client_ip) std::cout << "  affinity ClientIP " << s.affinity_timeout_s << "s";
    std::cout << "  traffic ext " << model::trafficPolicyName(s.external_traffic_policy) << " int "
              << model::trafficPolicyName(s.internal_traffic_policy) << "\n      backends ("
              << (s.from_slices ? "EndpointSlices" : "selector") << "):";
    if (s.backend_endpoints.empty()) std::cout << " none";
    for (const auto& b : s.backend_endpoints) {
      std::cout << " " << model::backendName(c, b) << " [";
      for (size_t i = 0; i < s.ports.size(); ++i)
        std::cout << (i ? "," : "") << s.ports[i].port << "->" << s.targetPort(b, i);
      std::cout << "]" << (b.ready ? "" : b.terminating ? " terminating" : " not-ready");
    }
    std::cout << "\n";
  }
}

}  // namespace

int cmdShow(int argc, char** argv) {
  Args a;
  if (!a.parse(argc, argv, {}, "membrane show PATH...\n  Load manifests and print the cluster.")) {
    return a.exit_code;
  }
  auto loaded = loadOrReport(a);
  if (!loaded) return kExitBadInput;
  const model::Cluster& c = loaded->cluster;
  std::cout << "cluster " << c.options.name << " (id " << c.options.id << ")\n";
  std::cout << "\nnamespaces (" << c.namespaces.size() << "):\n";
  for (const auto& n : c.namespaces)
    std::cout << "  " << n.name << "  " << labelsOf(n.labels) << "\n";
  if (!c.nodes.empty()) {
    std::cout << "\nnodes (" << c.nodes.size() << "):\n";
    for (const auto& n : c.nodes) {
      std::cout << "  " << n.name << "  "
                << (n.internal_ip ? model::formatIpv4(*n.internal_ip) : "-") << "  podCIDR "
                << (n.pod_cidr ? n.pod_cidr->str() : "-") << "\n";
    }
  }
  std::cout << "\nworkloads (" << c.workloads.size() << "):\n";
  for (const auto& w : c.workloads) {
    std::cout << "  " << w.ref() << "  replicas " << w.replicas << "  labels " << labelsOf(w.labels)
              << "\n";
  }
  std::cout << "\npods (" << c.pods.size() << "):\n";
  for (const auto& p : c.pods) {
    std::cout << "  " << p.ref() << "  " << (p.ip ? model::formatIpv4(*p.ip) : "-") << "  node "
              << (p.node_name.empty() ? "-" : p.node_name) << "  identity " << p.identity;
    for (const auto& cp : p.ports) {
      std::cout << "  " << (cp.name.empty() ? "" : cp.name + "=") << cp.port << "/"
                << model::protocolName(cp.protocol);
    }
    std::cout << "\n";
  }
  showServices(c);
  std::cout << "\nidentities (" << c.identities.size() << "):\n";
  for (const auto& [id, ident] : c.identities) {
    std::cout << "  " << std::setw(8) << id << "  " << ident.labels.str();
    if (ident.kind == model::IdentityKind::Cluster)
      std::cout << "  (" << ident.endpoint_count << " endpoints)";
    std::cout << "\n";
  }
  std::cout << "\npolicies (" << c.policies.policy_count << " objects, " << c.policies.rules.size()
            << " rules):\n";
  for (const auto& r : c.policies.rules) {
    std::cout << "  [" << r.id << "] " << r.describe() << "\n      "
              << (r.deny ? "DENY " : "allow ") << model::directionName(r.direction) << " subject "
              << r.subject.str() << "\n      peers " << r.peers.str();
    if (!r.ports.empty()) {
      std::cout << "  ports";
      for (const auto& p : r.ports) std::cout << " " << p.str();
    }
    if (r.icmps_present) {
      std::cout << "  icmp types";
      for (auto t : r.icmp_types) std::cout << " " << int(t);
    }
    for (const auto& l : r.l7) std::cout << "  L7 " << l.type << " (" << l.rule_count << " rules)";
    if (!r.default_deny) std::cout << "  (default deny disabled)";
    std::cout << "\n";
  }
  for (const auto& [kind, n] : c.ignored_kinds) {
    std::cout << "\nignored: " << n << " object(s) of kind " << kind << "\n";
  }
  return kExitOk;
}

int cmdCheck(int argc, char** argv) {
  Args a;
  if (!a.parse(
          argc, argv, {"--verbose"},
          "membrane check CASE_DIR... [--verbose]\n"
          "  Runs connectivity cases (manifests.yaml + expect.yaml) with the reference engine\n"
          "  and prints every mismatching cell with its explanation. Exit 0 only when all\n"
          "  cells match, 1 on a mismatch, 2 on unusable input.")) {
    return a.exit_code;
  }
  const bool verbose = a.flags.count("--verbose") > 0;
  size_t passed = 0, failed = 0, unusable = 0, cells = 0;
  for (const auto& dir : a.paths) {
    model::Diagnostics diags;
    auto c = sim::loadCorpusCase(dir, diags);
    if (!c) {
      printDiagnostics(diags);
      ++unusable;
      continue;
    }
    sim::CaseReport rep = sim::checkCaseWithModel(*c);
    printDiagnostics(rep.diags);
    if (!rep.diags.ok()) {
      ++unusable;
      continue;
    }
    if (rep.checked == 0) {
      // A case that checks nothing would pass without saying anything about the policy.
      std::cerr << dir << ": error: no cell to check (expect.yaml has no probe with a table)\n";
      ++unusable;
      continue;
    }
    cells += rep.checked;
    for (const auto& cell : rep.cells) {
      if (cell.match && !verbose) continue;
      std::cout << (cell.match ? "ok       " : "MISMATCH ") << dir << " [" << cell.step << "] "
                << cell.probe << " " << cell.from << " -> " << cell.to << ": expected "
                << static_cast<char>(cell.expected) << ", got " << static_cast<char>(cell.observed)
                << "\n  " << cell.explanation << "\n";
    }
    (rep.mismatches ? failed : passed)++;
    std::cout << (rep.mismatches ? "FAIL " : "PASS ") << dir << " (" << rep.checked << " cells, "
              << rep.mismatches << " mismatches)\n";
  }
  std::cout << "cases: " << passed << " passed, " << failed + unusable << " failed\n";
  std::cout << cells << " cells checked"
            << (unusable ? ", " + std::to_string(unusable) + " unusable" : "") << "\n";
  if (unusable) return kExitBadInput;
  return failed ? kExitFailed : kExitOk;
}

namespace {

// --from / --to of explain: an IPv4 address, NS/POD, or (--to) svc:NS/NAME.
std::optional<model::FlowEndpoint> explainEndpoint(const model::Cluster& c, const std::string& s) {
  if (auto ip = model::parseIpv4(s)) {
    return model::FlowEndpoint{.pod = c.findPodByIp(*ip), .ip = *ip};
  }
  auto slash = s.find('/');
  if (slash != std::string::npos && !s.starts_with("svc:")) {
    if (auto p = c.findPod(s.substr(0, slash), s.substr(slash + 1))) {
      return model::FlowEndpoint{.pod = p, .ip = c.pods[*p].ip.value_or(0)};
    }
  }
  if (s.starts_with("svc:")) {
    std::string why;
    if (const model::Service* svc = model::parseServiceRef(c, s, &why)) {
      return model::FlowEndpoint{.ip = svc->cluster_ip.value_or(0)};
    }
    std::cerr << "error: --to: " << why << "\n";
    return std::nullopt;
  }
  std::cerr << "error: \"" << s
            << "\" is neither an IPv4 address, a pod (namespace/name) nor a Service "
               "(svc:namespace/name)\n";
  return std::nullopt;
}

// --protocol and --port of explain into `flow`; false after an error.
bool explainProtocolPort(Args& a, const std::string& proto, model::Flow& flow) {
  if (proto == "TCP") {
    flow.protocol = model::kProtoTCP;
  } else if (proto == "UDP") {
    flow.protocol = model::kProtoUDP;
  } else if (proto == "SCTP") {
    flow.protocol = model::kProtoSCTP;
  } else if (proto == "ICMP") {
    flow.protocol = model::kProtoICMP;
    flow.port = 8;
  } else {
    std::cerr << "error: --protocol: \"" << proto << "\" is not TCP, UDP, SCTP or ICMP\n";
    return false;
  }
  if (a.values.count("--port")) {
    const std::string& p = a.values["--port"];
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || ptr != p.data() + p.size() || v > 65535) {
      std::cerr << "error: --port: \"" << p << "\" is not a port number (0-65535)\n";
      return false;
    }
    flow.port = static_cast<uint16_t>(v);
  } else if (flow.protocol != model::kProtoICMP) {
    std::cerr << "error: --port is required for " << proto << "\n";
    return false;
  }
  return true;
}

// The Service `to` names: svc:NS/NAME, or an address that is a Service frontend and no pod's.
const model::Service* serviceTarget(const model::Cluster& c, const std::string& to,
                                    const model::FlowEndpoint& dst) {
  std::string why;
  if (const model::Service* s = model::parseServiceRef(c, to, &why)) return s;
  if (dst.pod || !model::parseIpv4(to)) return nullptr;
  return c.findServiceByIp(dst.ip);
}

int explainService(const model::Engine& engine, const model::Service& svc, const model::Flow& flow,
                   const std::string& from, const std::string& to, const std::string& proto) {
  auto pi = model::findServicePort(svc, flow.port, flow.protocol);
  if (!pi) {
    std::string ports;
    for (const auto& p : svc.ports) {
      ports += (ports.empty() ? "" : ", ") + std::to_string(p.port) + "/" +
               std::string(model::protocolName(p.protocol));
    }
    std::cerr << "error: --port: Service " << svc.ref() << " has no port " << flow.port << "/"
              << proto << " (its ports: " << (ports.empty() ? "none" : ports) << ")\n";
    return kExitBadInput;
  }
  model::ServiceVerdict v = model::evaluateThroughService(engine, flow.src, svc, *pi);
  const model::ServicePort& sp = svc.ports[*pi];
  std::cout << from << " -> " << to << " " << proto << " " << flow.port << ": "
            << model::serviceVerdictWord(v) << "\n  Service " << svc.ref() << " ("
            << model::serviceTypeName(svc.type) << ") port " << sp.port << " -> targetPort "
            << sp.target_port << ", backends from "
            << (svc.from_slices ? "EndpointSlices" : "the selector") << "\n"
            << model::explainServiceVerdict(engine, v) << "\n";
  return kExitOk;
}

// The L7 part of explain (docs/l7.md): the model's answer for one HTTP request.
void printHttpExplain(const model::Engine& engine, const model::Flow& flow, const model::Verdict& v,
                      std::map<std::string, std::string>& values) {
  const model::HttpRequest req{
      .method = values.count("--http-method") ? values["--http-method"] : "GET",
      .target = values.count("--http-path") ? values["--http-path"] : "/",
      .host = values.count("--http-host") ? values["--http-host"] : ""};
  std::cout << "  " << model::explainHttp(model::decideHttp(engine, flow, v, req), req) << "\n";
}

}  // namespace

int cmdExplain(int argc, char** argv) {
  Args a;
  if (!a.parse(argc, argv,
               {"--from=", "--to=", "--port=", "--protocol=", "--http-method=", "--http-path=",
                "--http-host="},
               "membrane explain PATH... --from NS/POD|IP --to NS/POD|IP|svc:NS/NAME [--port N] "
               "[--protocol TCP|UDP|SCTP|ICMP]\n"
               "                [--http-method M] [--http-path P] [--http-host H]\n"
               "  The verdict of one flow with the reasons and rules of both sides: ALLOWED,\n"
               "  DENIED, or L7-RESTRICTED (decided by L7 rules: the L7 proxy decides each\n"
               "  request; where no proxy runs the datapath drops it) with the L7 rules and\n"
               "  where they are. With --http-*, the answer for that HTTP request as\n"
               "  membrane-proxy gives it (method default GET, path default /; docs/l7.md).\n"
               "  To a Service (svc:NS/NAME, or its ClusterIP, external or LoadBalancer IP;\n"
               "  --port is the Service port): the flow is DNATed to each ready backend and\n"
               "  its target port, and the verdict of each is printed with its rules.\n"
               "Exit codes: 0 the verdict was printed (whatever it is), 2 bad input.")) {
    return a.exit_code;
  }
  auto loaded = loadOrReport(a);
  if (!loaded) return kExitBadInput;
  const model::Cluster& c = loaded->cluster;
  model::Engine engine(c);
  if (!a.values.count("--from") || !a.values.count("--to")) {
    std::cerr << "error: --from and --to are required\n";
    return kExitBadInput;
  }
  if (a.values["--from"].starts_with("svc:")) {
    std::cerr << "error: --from: a Service is a destination only (it has no address of its own "
                 "as a source); expected a pod or an IPv4 address\n";
    return kExitBadInput;
  }
  auto src = explainEndpoint(c, a.values["--from"]);
  auto dst = explainEndpoint(c, a.values["--to"]);
  if (!src || !dst) return kExitBadInput;
  model::Flow flow{.src = *src, .dst = *dst};
  const std::string proto = a.values.count("--protocol") ? a.values["--protocol"] : "TCP";
  if (!explainProtocolPort(a, proto, flow)) return kExitBadInput;
  const bool http = a.values.count("--http-method") || a.values.count("--http-path") ||
                    a.values.count("--http-host");
  if (const model::Service* svc = serviceTarget(c, a.values["--to"], *dst)) {
    if (http) {
      std::cerr << "error: --http-* with a Service destination: explain the request to one of "
                   "its backends (--to NS/POD)\n";
      return kExitBadInput;
    }
    return explainService(engine, *svc, flow, a.values["--from"], a.values["--to"], proto);
  }
  model::Verdict v = engine.evaluate(flow);
  std::cout << a.values["--from"] << " -> " << a.values["--to"] << " " << proto << " " << flow.port
            << ": " << model::verdictWord(v) << "\n  " << model::explainVerdict(engine, v) << "\n";
  if (http) printHttpExplain(engine, flow, v, a.values);
  return kExitOk;
}

int cmdPolicy(int argc, char** argv) {
  Args a;
  if (!a.parse(
          argc, argv, {"--pod="},
          "membrane policy PATH... [--pod NS/NAME]\n"
          "  The compiled policy map state of each endpoint (like cilium-dbg bpf policy get).")) {
    return a.exit_code;
  }
  auto loaded = loadOrReport(a);
  if (!loaded) return kExitBadInput;
  const model::Cluster& c = loaded->cluster;
  model::Engine engine(c);
  bool any = false;
  for (size_t i = 0; i < c.pods.size(); ++i) {
    const model::Pod& p = c.pods[i];
    if (a.values.count("--pod") && a.values["--pod"] != p.ref()) continue;
    any = true;
    model::MapState st = engine.compile(i);
    std::cout << "endpoint " << p.ref() << " identity " << p.identity << "  ingress "
              << (st.ingress_enforced ? "enforced" : "allow-all") << ", egress "
              << (st.egress_enforced ? "enforced" : "allow-all") << "\n";
    std::cout << "  DIRECTION  IDENTITY    PROTO  PORT/PREFIX  VERDICT   PROXY  PRECEDENCE  RULE\n";
    for (const auto& [k, v] : st.entries) {
      std::ostringstream port;
      if (k.prefix_len <= model::kPrefixProtoOnly) {
        port << "ANY";
      } else {
        port << k.port << "/" << int(k.prefix_len - model::kPrefixProtoOnly);
      }
      std::cout << "  " << std::left << std::setw(9) << model::directionName(k.direction) << "  "
                << std::setw(10) << k.identity << "  " << std::setw(5)
                << model::protocolName(k.protocol) << "  " << std::setw(11) << port.str() << "  "
                << std::setw(8) << model::entryVerdictName(v.verdict) << "  " << std::setw(5)
                << v.proxy_port << "  0x" << std::hex << std::setw(8) << v.precedence << std::dec
                << "  " << (v.cookie ? c.policies.rules[v.cookie - 1].describe() : "(synthetic)")
                << "\n";
    }
  }
  if (!any && a.values.count("--pod")) {
    std::cerr << "error: --pod: no pod " << a.values["--pod"] << "\n";
    return kExitBadInput;
  }
  return kExitOk;
}

}  // namespace membrane::cmd
