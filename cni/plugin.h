// SPDX-License-Identifier: Apache-2.0
// One invocation of membrane-cni: the CNI command from the environment, the network
// configuration from stdin, the result or error JSON on `out` (nothing else ever goes there),
// log lines on `log`. cmd/cni_main.cc is a thin main over run().
#pragma once

#include <ostream>
#include <string_view>

#include "cni/env.h"

namespace membrane::cni {

inline constexpr int kExitSuccess = 0;
inline constexpr int kExitError = 1;  // an error object was printed on `out`

// `log` receives diagnostics until the netconf names a logFile; then lines go there.
int run(const Getenv& getenv, std::string_view stdinText, std::ostream& out, std::ostream& log);

}  // namespace membrane::cni
