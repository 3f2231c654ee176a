// SPDX-License-Identifier: Apache-2.0
// membrane connectivity: the allowed connections between workloads and external ranges,
// in np-guard netpol-analyzer's formats.
#include "model/connectivity.h"

#include <iostream>
#include <set>

#include "cmd/args.h"

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

}  // namespace

int cmdConnectivity(int argc, char** argv) {
  Args a;
  if (!a.parse(argc, argv, {},
               "membrane connectivity PATH... [-o txt|json|dot|csv|md]\n"
               "  Every allowed connection between workloads and external address ranges.\n"
               "  txt is np-guard netpol-analyzer's format: `src => dst : conns`.\n"
               "  Connections decided by L7 rules (no proxy: the datapath drops them) are\n"
               "  listed as L7-restricted, e.g. `TCP 80 (L7: http)`, in every format.")) {
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
  const auto entries = model::computeConnectivity(engine);
  if (a.output == "txt") {
    for (const auto& e : entries) {
      std::cout << e.src.str(c) << " => " << e.dst.str(c) << " : " << e.str() << "\n";
    }
  } else if (a.output == "json") {
    std::cout << "[";
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      std::cout << (i ? "," : "") << "\n  {\"src\": \"" << jsonEscape(e.src.str(c))
                << "\", \"dst\": \"" << jsonEscape(e.dst.str(c)) << "\", \"conn\": \""
                << jsonEscape(e.str()) << "\"" << l7Json(e) << "}";
    }
    std::cout << "\n]\n";
  } else if (a.output == "csv") {
    std::cout << "src,dst,conn\n";
    for (const auto& e : entries) {
      std::cout << csvField(e.src.str(c)) << "," << csvField(e.dst.str(c)) << ","
                << csvField(e.str()) << "\n";
    }
  } else if (a.output == "md") {
    std::cout << "| src | dst | conn |\n|-----|-----|------|\n";
    for (const auto& e : entries) {
      std::cout << "| " << e.src.str(c) << " | " << e.dst.str(c) << " | " << e.str() << " |\n";
    }
  } else {
    std::set<std::string> nodes;
    for (const auto& e : entries) {
      nodes.insert(e.src.str(c));
      nodes.insert(e.dst.str(c));
    }
    std::cout << "digraph {\n";
    for (const auto& n : nodes) {
      std::cout << "\t\"" << n << "\" [label=\"" << n << "\" color=\""
                << (n.ends_with("[External]") ? "red2" : "blue") << "\" fontcolor=\""
                << (n.ends_with("[External]") ? "red2" : "blue") << "\"]\n";
    }
    for (const auto& e : entries) {
      std::cout << "\t\"" << e.src.str(c) << "\" -> \"" << e.dst.str(c) << "\" [label=\"" << e.str()
                << "\" color=\"" << (e.l7.empty() ? "gold2" : "orange3")
                << "\" fontcolor=\"darkgreen\"" << (e.l7.empty() ? "" : " style=\"dashed\"")
                << "]\n";
    }
    std::cout << "}\n";
  }
  return kExitOk;
}

}  // namespace membrane::cmd
