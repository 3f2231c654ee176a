// SPDX-License-Identifier: Apache-2.0
// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
// Load Balancer", NSDI 2016, section 3.4): each backend gets a permutation of the table slots
// from two hashes of its identity (offset, skip); backends then take turns claiming their next
// preferred free slot until the table is full. The BPF side indexes the table by a hash of the
// flow's 5-tuple, so a flow keeps its backend while the backend set is unchanged and mostly
// keeps it when another backend comes or goes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/result.h"

namespace membrane::dataplane {

// The paper's table size: a prime much larger than the backend count (M >= 100 N keeps each
// backend's share within 1% of equal, see maglevTable). 16,381 is Cilium's default.
inline constexpr uint32_t kMaglevDefaultTableSize = 16381;

struct MaglevBackend {
  std::string identity;  // stable name hashed for the permutation, e.g. "10.0.1.5:8080/TCP"
  uint32_t id = 0;       // what the table holds: the backend map's id
};

// True when n is prime (trial division; table sizes are at most a few million).
bool isPrime(uint32_t n);

// The lookup table: entry i is the id of the backend owning slot i. Deterministic in the SET
// of backends: they are ordered by identity before population, so their input order does not
// matter. Every backend gets floor(M/N) or ceil(M/N) slots (the round-robin population hands
// out one slot per backend per round). Errors (EINVAL): table size not prime, or smaller than
// the backend count, duplicate identities. No backend: an empty table (the service has none).
Result<std::vector<uint32_t>> maglevTable(std::vector<MaglevBackend> backends,
                                          uint32_t table_size = kMaglevDefaultTableSize);

// 64-bit hash of a backend identity with a seed (FNV-1a folded through a splitmix64 finaliser);
// stable across runs and builds, since the tables must agree between agent restarts.
uint64_t maglevHash(const std::string& s, uint64_t seed);

}  // namespace membrane::dataplane
