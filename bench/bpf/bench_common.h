// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the datapath benchmarks.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>

#include "dataplane/result.h"
#include "model/mapstate.h"

namespace membrane::dataplane::bench {

inline bool quick() {
  const char* q = std::getenv("MEMBRANE_BENCH_QUICK");
  return q != nullptr && std::string(q) == "1";
}

[[noreturn]] inline void die(const std::string& what, const Error& e) {
  std::fprintf(stderr, "bench: %s: %s\n", what.c_str(), e.message().c_str());
  std::exit(1);
}

template <typename T>
T must(Result<T> r, const std::string& what) {
  if (!r) die(what, r.error());
  return std::move(*r);
}

inline void must(Status s, const std::string& what) {
  if (!s) die(what, s.error());
}

// `n` egress entries: the flow's own (peer, TCP port) allow, then others with distinct
// identities and ports, as a compiled policy with many peers would have.
inline model::MapState policyOf(size_t n, model::IdentityId peer, uint16_t port) {
  model::MapState s;
  s.entries[{.identity = peer,
             .direction = model::Direction::Egress,
             .protocol = 6,
             .port = port,
             .prefix_len = 24}] = {.cookie = 1};
  std::mt19937 rng(42);
  while (s.entries.size() < n) {
    model::MapKey k{.identity = static_cast<model::IdentityId>(256 + rng() % 50000),
                    .direction = rng() % 2 ? model::Direction::Egress : model::Direction::Ingress,
                    .protocol = static_cast<uint8_t>(rng() % 2 ? 6 : 17),
                    .port = static_cast<uint16_t>(rng() % 65536),
                    .prefix_len = 24};
    s.entries[k] = {.cookie = static_cast<uint32_t>(s.entries.size() + 1)};
  }
  return s;
}

}  // namespace membrane::dataplane::bench
