// SPDX-License-Identifier: Apache-2.0
#include "cmd/args.h"

#include <charconv>
#include <iostream>

namespace membrane::cmd {

bool Args::parse(int argc, char** argv, std::initializer_list<std::string> extra,
                 const std::string& help, bool needs_paths) {
  auto usage_error = [&](const std::string& msg) {
    std::cerr << "error: " << msg << "\n\nUsage: " << help << "\n";
    exit_code = kExitBadInput;
    return false;
  };
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << "Usage: " << help
                << "\n\nCommon options: --cluster-name NAME, --cluster-id N (0-255), -o FORMAT\n"
                   "Exit codes: 0 ok, 1 check failed, 2 unusable input or usage, 3 unknown,\n"
                   "4 internal error (two views of membrane disagree)\n";
      exit_code = kExitOk;
      return false;
    }
    std::string value;
    bool has_inline = false;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline = true;
    }
    auto take = [&](std::string& out) {
      if (has_inline) {
        out = value;
        return true;
      }
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    if (arg == "--cluster-name") {
      if (!take(cluster.name)) return usage_error("--cluster-name needs a value");
    } else if (arg == "--cluster-id") {
      std::string v;
      unsigned id = 0;
      if (!take(v)) return usage_error("--cluster-id needs a value");
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), id);
      if (ec != std::errc() || p != v.data() + v.size() || id > 255) {
        return usage_error("--cluster-id: \"" + v + "\" is not a number 0-255");
      }
      cluster.id = id;
    } else if (arg == "-o" || arg == "--output") {
      if (!take(output)) return usage_error("-o needs a value");
    } else if (arg.starts_with("-")) {
      bool known = false;
      for (const auto& e : extra) {
        if (e.ends_with("=") && e.substr(0, e.size() - 1) == arg) {
          std::string v;
          if (!take(v)) return usage_error(arg + " needs a value");
          values[arg] = v;
          known = true;
        } else if (e == arg) {
          flags.insert(arg);
          known = true;
        }
      }
      if (!known) return usage_error("unknown option " + arg);
    } else {
      paths.push_back(arg);
    }
  }
  if (needs_paths && paths.empty()) return usage_error("no input paths given");
  return true;
}

std::optional<model::LoadResult> loadOrReport(const Args& a) {
  auto loaded = model::loadCluster(a.paths, a.cluster);
  printDiagnostics(loaded.diags);
  if (!loaded.diags.ok()) return std::nullopt;
  return loaded;
}

}  // namespace membrane::cmd
