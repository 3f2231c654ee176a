// SPDX-License-Identifier: Apache-2.0
// Everything a netns run creates is a network namespace named "<prefix>..." with
// prefix "msim<pid>-". The registry remembers them so that a signal (Ctrl-C, SIGTERM)
// removes them before the process dies, and `membrane sim --cleanup` removes the
// namespaces of runs whose process is gone.
#pragma once

#include <string>
#include <vector>

namespace membrane::sim {

inline constexpr const char* kRunNamePrefix = "msim";

// "msim<pid>-" for this process.
std::string runPrefix();

// Remembers / forgets a namespace of this run (for the signal handler).
void registerNamespace(const std::string& name);
void forgetNamespace(const std::string& name);

// SIGINT/SIGTERM/SIGHUP: unmount and unlink the registered namespaces, then exit 128+sig;
// SIGSEGV/SIGBUS/SIGABRT/SIGFPE: the same, then die of the signal. Only async-signal-safe
// calls in the handler. SIGKILL leaves them for `membrane sim --cleanup`.
void installSignalCleanup();

// Removes namespaces of dead runs ("msim<pid>-*" whose pid is not alive); returns their names.
std::vector<std::string> cleanupStaleRuns();

// Deletes one namespace (/run/netns/<name>): unmount and unlink.
bool deleteNamespace(const std::string& name);

}  // namespace membrane::sim
