// SPDX-License-Identifier: Apache-2.0
// cni_fake_agent SOCKET: serves the in-memory fake agent until SIGTERM/SIGINT. Used by the
// CNI bench when no real membrane-agent is available (bench/cni/add_latency.sh).
#include <signal.h>

#include <cstdio>

#include "tests/cni/fake_agent.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: cni_fake_agent SOCKET\n");
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before the server thread starts
  membrane::cni::testing::FakeAgent agent(argv[1]);
  std::printf("ready\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  return 0;
}
