// SPDX-License-Identifier: Apache-2.0
// Privileged tests (root, BPF, namespaces, iproute2) skip with a reason where they cannot run,
// except under MEMBRANE_REQUIRE_PRIVILEGED=1 (ci/test as root): there a would-be skip FAILS
// with the same reason, so a green CI run means the privileged tests really ran.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

namespace membrane::test {

inline bool privilegedRequired() {
  const char* v = std::getenv("MEMBRANE_REQUIRE_PRIVILEGED");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace membrane::test

// MEMBRANE_REQUIRE_OR_SKIP(cond, reason): when `cond` is false, skips with `reason` (which may
// be a `<<` chain) or, under MEMBRANE_REQUIRE_PRIVILEGED=1, fails with it. Returns from the
// calling void function (test body, SetUp) either way.
#define MEMBRANE_REQUIRE_OR_SKIP(cond, reason)                                        \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      if (::membrane::test::privilegedRequired()) {                                   \
        GTEST_FAIL() << "MEMBRANE_REQUIRE_PRIVILEGED=1 forbids skipping: " << reason; \
      } else {                                                                        \
        GTEST_SKIP() << reason;                                                       \
      }                                                                               \
    }                                                                                 \
  } while (0)
