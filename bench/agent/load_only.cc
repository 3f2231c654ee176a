// SPDX-License-Identifier: Apache-2.0
// The baseline of bench/agent/agent_bench.py: a process that only loads the BPF objects
// with the agent's map sizes (unpinned) and reports the time and its resident memory.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "dataplane/datapath.h"

int main(int argc, char** argv) {
  const uint32_t max_endpoints = argc > 1 ? static_cast<uint32_t>(std::atoi(argv[1])) : 1024;
  const auto t0 = std::chrono::steady_clock::now();
  auto dp = membrane::dataplane::Datapath::load({.policy_map_size = 4096,
                                                 .max_endpoints = max_endpoints,
                                                 .ipcache_size = 65536,
                                                 .endpoints_size = max_endpoints,
                                                 .ct_size = 65536,
                                                 .events_bytes = 1 << 20,
                                                 .policy_cache_size = 16384});
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!dp) {
    std::fprintf(stderr, "load: %s\n", dp.error().message().c_str());
    return 1;
  }
  std::ifstream status("/proc/self/status");
  std::string line;
  long rss_kb = 0;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) rss_kb = std::atol(line.c_str() + 6);
  }
  std::printf("{\"load_ms\": %.2f, \"rss_kb\": %ld}\n", ms, rss_kb);
  return 0;
}
