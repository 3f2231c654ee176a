// SPDX-License-Identifier: Apache-2.0
// Shared helpers of the membrane CLI.
#pragma once

#include <iostream>
#include <string>
#include <vector>

#include "model/loader.h"

namespace membrane::cmd {

// Exit codes of every membrane command (documented in `membrane --help`).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;    // a check/verification failed (mismatch, violation)
inline constexpr int kExitBadInput = 2;  // unusable input or usage
inline constexpr int kExitUnknown = 3;   // the solver answered unknown
inline constexpr int kExitInternal = 4;  // two views of membrane disagree (a bug in membrane)
inline constexpr int kExitStore = 5;     // the store (etcd) is unreachable or failed

void printDiagnostics(const model::Diagnostics& d, std::ostream& out = std::cerr);

// Parsed common options: positional paths, --cluster-name, --cluster-id, -o/--output.
struct CommonArgs {
  std::vector<std::string> paths;
  model::ClusterOptions cluster;
  std::string output = "txt";
  bool help = false;
};

int cmdShow(int argc, char** argv);
int cmdCheck(int argc, char** argv);
int cmdConnectivity(int argc, char** argv);
int cmdExplain(int argc, char** argv);
int cmdPolicy(int argc, char** argv);
int cmdVerify(int argc, char** argv);  // cmd/verify_cmds.cc
int cmdDiff(int argc, char** argv);
int cmdLint(int argc, char** argv);
int cmdSim(int argc, char** argv);       // cmd/sim_cmd.cc
int cmdStatus(int argc, char** argv);    // cmd/agent_cli.cc
int cmdEndpoint(int argc, char** argv);  // cmd/agent_cli.cc
int cmdApply(int argc, char** argv);     // cmd/store_cmds.cc
int cmdDelete(int argc, char** argv);    // cmd/store_cmds.cc
int cmdGet(int argc, char** argv);       // cmd/store_cmds.cc
int cmdObserve(int argc, char** argv);   // cmd/observe.cc

}  // namespace membrane::cmd
