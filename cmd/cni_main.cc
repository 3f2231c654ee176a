// SPDX-License-Identifier: Apache-2.0
// membrane-cni: the CNI plugin a container runtime executes (CNI spec 1.1.0, 1.0.0, 0.4.0).
// Everything but --help/--version comes from CNI_* variables and stdin (docs/cni.md).
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string>

#include "cni/plugin.h"

namespace {

constexpr const char* kUsage = R"(membrane-cni - membrane's CNI plugin (CNI 1.1.0, 1.0.0, 0.4.0)

A container runtime runs it; it is not meant for people. Input: CNI_COMMAND (ADD, DEL,
CHECK, VERSION, STATUS, GC), CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH and
the network configuration on stdin. It asks membrane-agent (unix socket "agentSocket",
default /var/run/membrane/membrane.sock) to create, check and delete endpoints.

Output: the CNI result (ADD), the version object (VERSION) or nothing (DEL, CHECK, STATUS,
GC) on stdout; on failure the spec's error object {"cniVersion","code","msg","details"}.
Logs go to stderr, or to the netconf's "logFile".

Exit codes:
  0  success
  1  failure; the error object on stdout carries the CNI error code:
     1 incompatible cniVersion, 2 unsupported field, 3 unknown container,
     4 invalid environment variable, 5 I/O failure, 6 cannot decode the configuration,
     7 invalid network configuration, 11 try again later (agent down, not ready, no free
     address), 50 STATUS: cannot add pods now, 60 CHECK found a difference,
     61 the agent broke the API contract, 999 the agent failed (rolled back)
  2  usage: an unknown command-line argument (runtimes pass none)

Options:
  -h, --help     this text
  --version      the plugin version and the CNI versions it supports

Reference: docs/cni.md; installation: docs/deploy.md.
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    if (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0) {
      std::cout << kUsage;
      return 0;
    }
    if (std::strcmp(argv[1], "--version") == 0) {
      std::cout << "membrane-cni 0.1.0, CNI 0.4.0 1.0.0 1.1.0\n";
      return 0;
    }
    std::cerr << "membrane-cni: unknown argument \"" << argv[1] << "\" (see --help)\n";
    return 2;
  }
  // VERSION may come without stdin (a terminal): read it only when it is not a tty.
  std::string input;
  if (isatty(STDIN_FILENO) == 0) {
    input.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  return membrane::cni::run([](const char* name) { return std::getenv(name); }, input, std::cout,
                            std::cerr);
}
