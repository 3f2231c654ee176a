// SPDX-License-Identifier: Apache-2.0
#include "dataplane/maglev.h"

#include <algorithm>
#include <cerrno>
#include <set>

namespace membrane::dataplane {

namespace {
constexpr uint64_t kOffsetSeed = 0x6d656d6272616e65ULL;  // "membrane"
constexpr uint64_t kSkipSeed = 0x6d61676c65762121ULL;    // "maglev!!"
constexpr uint32_t kEmpty = UINT32_MAX;
}  // namespace

bool isPrime(uint32_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

uint64_t maglevHash(const std::string& s, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  // FNV alone mixes the last bytes poorly (identities differ mostly at the end).
  h += 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

Result<std::vector<uint32_t>> maglevTable(std::vector<MaglevBackend> backends,
                                          uint32_t table_size) {
  if (!isPrime(table_size)) {
    return Error{EINVAL, "maglev table size " + std::to_string(table_size) + " is not prime"};
  }
  if (backends.size() > table_size) {
    return Error{EINVAL, "maglev table size " + std::to_string(table_size) + " < " +
                             std::to_string(backends.size()) + " backends"};
  }
  std::sort(backends.begin(), backends.end(),
            [](const MaglevBackend& a, const MaglevBackend& b) { return a.identity < b.identity; });
  for (size_t i = 1; i < backends.size(); ++i) {
    if (backends[i].identity == backends[i - 1].identity) {
      return Error{EINVAL, "maglev: duplicate backend " + backends[i].identity};
    }
  }
  std::vector<uint32_t> table;
  if (backends.empty()) return table;
  const uint64_t m = table_size;
  std::vector<uint64_t> offset(backends.size()), skip(backends.size()), next(backends.size(), 0);
  for (size_t i = 0; i < backends.size(); ++i) {
    offset[i] = maglevHash(backends[i].identity, kOffsetSeed) % m;
    skip[i] = maglevHash(backends[i].identity, kSkipSeed) % (m - 1) + 1;
  }
  // Paper, pseudocode 1: permutation[i][j] = (offset + j * skip) mod M, computed lazily.
  // skip in [1, M-1] and M prime make every permutation cover all slots, so each turn ends.
  table.assign(table_size, kEmpty);
  uint32_t filled = 0;
  while (true) {
    for (size_t i = 0; i < backends.size(); ++i) {
      uint64_t c = (offset[i] + next[i] * skip[i]) % m;
      while (table[c] != kEmpty) {
        ++next[i];
        c = (offset[i] + next[i] * skip[i]) % m;
      }
      table[c] = backends[i].id;
      ++next[i];
      if (++filled == table_size) return table;
    }
  }
}

}  // namespace membrane::dataplane
