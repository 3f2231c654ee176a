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

}  // namespace

int cmdConnectivity(int argc, char** argv) {
  Args a;
  if (!a.parse(argc, argv, {},
               "membrane connectivity PATH... [-o txt|json|dot|csv|md]\n"
               "  Every allowed connection between workloads and external address ranges.\n"
               "  txt is np-guard netpol-analyzer's format: `src => dst : conns`.")) {
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
      std::cout << e.src.str(c) << " => " << e.dst.str(c) << " : " << e.conns.str() << "\n";
    }
  } else if (a.output == "json") {
    std::cout << "[";
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      std::cout << (i ? "," : "") << "\n  {\"src\": \"" << jsonEscape(e.src.str(c))
                << "\", \"dst\": \"" << jsonEscape(e.dst.str(c)) << "\", \"conn\": \""
                << jsonEscape(e.conns.str()) << "\"}";
    }
    std::cout << "\n]\n";
  } else if (a.output == "csv") {
    std::cout << "src,dst,conn\n";
    for (const auto& e : entries) {
      std::cout << csvField(e.src.str(c)) << "," << csvField(e.dst.str(c)) << ","
                << csvField(e.conns.str()) << "\n";
    }
  } else if (a.output == "md") {
    std::cout << "| src | dst | conn |\n|-----|-----|------|\n";
    for (const auto& e : entries) {
      std::cout << "| " << e.src.str(c) << " | " << e.dst.str(c) << " | " << e.conns.str()
                << " |\n";
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
      std::cout << "\t\"" << e.src.str(c) << "\" -> \"" << e.dst.str(c) << "\" [label=\""
                << e.conns.str() << "\" color=\"gold2\" fontcolor=\"darkgreen\"]\n";
    }
    std::cout << "}\n";
  }
  return kExitOk;
}

}  // namespace membrane::cmd
