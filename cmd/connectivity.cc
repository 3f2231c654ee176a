// SPDX-License-Identifier: Apache-2.0
// membrane connectivity: the allowed connections between workloads and external ranges,
// in np-guard netpol-analyzer's formats.
#include "model/connectivity.h"

#include <iostream>
#include <map>
#include <set>

#include "cmd/args.h"
#include "model/mapstate.h"
#include "model/service_view.h"

namespace membrane::cmd {
namespace {

std::string jsonEscape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\';
    o += ch;
  }
  return o;
}

std::string csvField(const std::string& s) {
  return s.find(',') == std::string::npos ? s : "\"" + s + "\"";
}

// L7-restricted entries also carry the parts apart: "allowed" (plainly), "l7_restricted"
// and "l7" (the types); entries without L7 rules keep np-guard's shape.
std::string l7Json(const model::ConnEntry& e) {
  if (e.l7.empty()) return "";
  std::string types;
  for (const auto& t : e.l7_types) types += (types.empty() ? "\"" : ", \"") + jsonEscape(t) + "\"";
  return ", \"allowed\": \"" + jsonEscape(e.conns.str()) + "\", \"l7_restricted\": \"" +
         jsonEscape(e.l7.str()) + "\", \"l7\": [" + types + "]";
}

// One line of output: a workload pair, a workload and a range, or (--services) a workload and
// a Service.
struct Row {
  std::string src;
  std::string dst;
  std::string conn;
  std::string extra_json;  // L7 parts
  bool dashed = false;
};

void printDot(const std::vector<Row>& rows) {
  std::set<std::string> nodes;
  for (const auto& r : rows) {
    nodes.insert(r.src);
    nodes.insert(r.dst);
  }
  std::cout << "digraph {\n";
  for (const auto& n : nodes) {
    const char* color = n.ends_with("[External]")  ? "red2"
                        : n.ends_with("[Service]") ? "darkgreen"
                                                   : "blue";
    std::cout << "\t\"" << n << "\" [label=\"" << n << "\" color=\"" << color << "\" fontcolor=\""
              << color << "\"]\n";
  }
  for (const auto& r : rows) {
    std::cout << "\t\"" << r.src << "\" -> \"" << r.dst << "\" [label=\"" << r.conn << "\" color=\""
              << (r.dashed ? "orange3" : "gold2") << "\" fontcolor=\"darkgreen\""
              << (r.dashed ? " style=\"dashed\"" : "") << "]\n";
  }
  std::cout << "}\n";
}

// --services: per client workload (its first pod) and Service, the Service ports through which
// every ready backend allows a connection ("TCP 443"); ports only some backends allow carry
// "(via K of N backends)": the datapath picks one backend per connection.
std::vector<Row> serviceRows(const model::Engine& engine) {
  const model::Cluster& c = engine.cluster();
  std::map<size_t, size_t> first_pod;
  for (size_t i = 0; i < c.pods.size(); ++i) first_pod.try_emplace(c.pods[i].workload, i);
  std::vector<Row> rows;
  for (const auto& [w, pod] : first_pod) {
    const model::FlowEndpoint src{.pod = pod, .ip = c.pods[pod].ip.value_or(0)};
    for (const auto& s : c.services) {
      std::string conn;
      for (size_t pi = 0; pi < s.ports.size(); ++pi) {
        const auto v = model::evaluateThroughService(engine, src, s, pi);
        const size_t ok = v.allowedCount();
        if (ok == 0) continue;
        conn += (conn.empty() ? "" : ",") + std::string(model::protocolName(s.ports[pi].protocol)) +
                " " + std::to_string(s.ports[pi].port);
        if (ok < v.backends.size()) {
          conn += " (via " + std::to_string(ok) + " of " + std::to_string(v.backends.size()) +
                  " backends)";
        }
      }
      if (!conn.empty())
        rows.push_back({c.workloads[w].ref(), "svc:" + s.ref() + "[Service]", conn});
    }
  }
  return rows;
}

void printRows(const std::string& format, const std::vector<Row>& rows) {
  if (format == "txt") {
    for (const auto& r : rows) std::cout << r.src << " => " << r.dst << " : " << r.conn << "\n";
  } else if (format == "json") {
    std::cout << "[";
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      std::cout << (i ? "," : "") << "\n  {\"src\": \"" << jsonEscape(r.src) << "\", \"dst\": \""
                << jsonEscape(r.dst) << "\", \"conn\": \"" << jsonEscape(r.conn) << "\""
                << r.extra_json << "}";
    }
    std::cout << "\n]\n";
  } else if (format == "csv") {
    std::cout << "src,dst,conn\n";
    for (const auto& r : rows) {
      std::cout << csvField(r.src) << "," << csvField(r.dst) << "," << csvField(r.conn) << "\n";
    }
  } else if (format == "md") {
    std::cout << "| src | dst | conn |\n|-----|-----|------|\n";
    for (const auto& r : rows)
      std::cout << "| " << r.src << " | " << r.dst << " | " << r.conn << " |\n";
  } else {
    printDot(rows);
  }
}

}  // namespace

int cmdConnectivity(int argc, char** argv) {
  Args a;
  if (!a.parse(argc, argv, {"--services"},
               "membrane connectivity PATH... [-o txt|json|dot|csv|md] [--services]\n"
               "  Every allowed connection between workloads and external address ranges.\n"
               "  txt is np-guard netpol-analyzer's format: `src => dst : conns`.\n"
               "  Connections decided by L7 rules (no proxy: the datapath drops them) are\n"
               "  listed as L7-restricted, e.g. `TCP 80 (L7: http)`, in every format.\n"
               "  --services adds Services as destinations (`svc:NS/NAME[Service]`): the Service\n"
               "  ports every ready backend allows after DNAT, and `(via K of N backends)` for\n"
               "  ports only some allow.")) {
    return a.exit_code;
  }
  const std::set<std::string> formats{"txt", "json", "dot", "csv", "md"};
  if (!formats.count(a.output)) {
    std::cerr << "error: -o: \"" << a.output << "\" is not one of txt, json, dot, csv, md\n";
    return kExitBadInput;
  }
  auto loaded = loadOrReport(a);
  if (!loaded) return kExitBadInput;
  const model::Cluster& c = loaded->cluster;
  model::Engine engine(c);
  std::vector<Row> rows;
  for (const auto& e : model::computeConnectivity(engine)) {
    rows.push_back({e.src.str(c), e.dst.str(c), e.str(), l7Json(e), !e.l7.empty()});
  }
  if (a.flags.count("--services")) {
    for (auto& r : serviceRows(engine)) rows.push_back(std::move(r));
  }
  printRows(a.output, rows);
  return kExitOk;
}

}  // namespace membrane::cmd
