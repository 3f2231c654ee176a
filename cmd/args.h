// SPDX-License-Identifier: Apache-2.0
// A small argument parser shared by the subcommands.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cmd/common.h"

namespace membrane::cmd {

struct Args {
  std::vector<std::string> paths;
  model::ClusterOptions cluster;
  std::string output = "txt";
  std::map<std::string, std::string> values;  // options declared with a trailing '='
  std::set<std::string> flags;                // options declared without '='
  int exit_code = kExitOk;

  // `extra` lists the command's own options ("--from=" takes a value, "--verbose" does not).
  // Returns false when the command should exit with exit_code (help printed or bad usage).
  bool parse(int argc, char** argv, std::initializer_list<std::string> extra,
             const std::string& help, bool needs_paths = true);
};

// Loads the manifests named by `a.paths` and prints warnings and errors; nullopt when the
// input is unusable (the caller exits with kExitBadInput).
std::optional<model::LoadResult> loadOrReport(const Args& a);

}  // namespace membrane::cmd
