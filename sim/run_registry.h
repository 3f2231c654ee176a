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

// Where a run keeps its agents' directories and bpffs mounts: /run/membrane-sim/msim<pid>-.
inline constexpr const char* kRunDirRoot = "/run/membrane-sim";
std::string runDir();

// Remembers / forgets a process of this run (an agent) and a mount (its bpffs): the signal
// handler SIGKILLs the processes and detaches the mounts before removing the namespaces.
void registerProcess(int pid);
void forgetProcess(int pid);
void registerMount(const std::string& path);
void forgetMount(const std::string& path);

// Remembers / forgets a namespace of this run (for the signal handler).
void registerNamespace(const std::string& name);
void forgetNamespace(const std::string& name);

// SIGINT/SIGTERM/SIGHUP: unmount and unlink the registered namespaces, then exit 128+sig;
// SIGSEGV/SIGBUS/SIGABRT/SIGFPE: the same, then die of the signal. Only async-signal-safe
// calls in the handler. SIGKILL leaves them for `membrane sim --cleanup`.
void installSignalCleanup();

// Removes what dead runs ("msim<pid>-*" whose pid is not alive) left: SIGKILLs the processes
// whose command line names the run's directory, detaches the mounts under it, removes it
// and the run's namespaces; returns what it removed ("namespace X", "process N", ...).
std::vector<std::string> cleanupStaleRuns();

// Deletes one namespace (/run/netns/<name>): unmount and unlink.
bool deleteNamespace(const std::string& name);

}  // namespace membrane::sim
