// SPDX-License-Identifier: Apache-2.0
#include "sim/run_registry.h"

#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>

namespace membrane::sim {
namespace {

// Fixed storage the signal handler can walk without allocating.
constexpr size_t kMaxNamespaces = 4096;
constexpr size_t kNameLen = 64;
std::array<std::array<char, kNameLen>, kMaxNamespaces> g_names{};
constexpr size_t kMaxProcs = 256;
constexpr size_t kPathLen = 256;
std::array<volatile int, kMaxProcs> g_pids{};
std::array<std::array<char, kPathLen>, kMaxProcs> g_mounts{};
std::mutex g_mu;

void onSignal(int sig) {
  for (auto& p : g_pids) {
    if (p > 0) kill(p, SIGKILL);
  }
  for (auto& m : g_mounts) {
    if (m[0] != '\0') umount2(m.data(), MNT_DETACH);
  }
  char path[kNameLen + 16];
  for (auto& n : g_names) {
    if (n[0] == '\0') continue;
    std::memcpy(path, "/run/netns/", 11);
    std::memcpy(path + 11, n.data(), kNameLen);
    umount2(path, MNT_DETACH);
    unlink(path);
  }
  if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) _exit(128 + sig);
  // A crash: the handler was reset (SA_RESETHAND), so re-raising dies as before.
  raise(sig);
}

}  // namespace

std::string runPrefix() { return std::string(kRunNamePrefix) + std::to_string(getpid()) + "-"; }

std::string runDir() { return std::string(kRunDirRoot) + "/" + runPrefix(); }

void registerProcess(int pid) {
  std::lock_guard lock(g_mu);
  for (auto& p : g_pids) {
    if (p != 0) continue;
    p = pid;
    return;
  }
}

void forgetProcess(int pid) {
  std::lock_guard lock(g_mu);
  for (auto& p : g_pids) {
    if (p == pid) p = 0;
  }
}

void registerMount(const std::string& path) {
  std::lock_guard lock(g_mu);
  if (path.size() >= kPathLen) return;
  for (auto& m : g_mounts) {
    if (m[0] != '\0') continue;
    std::memcpy(m.data(), path.c_str(), path.size() + 1);
    return;
  }
}

void forgetMount(const std::string& path) {
  std::lock_guard lock(g_mu);
  for (auto& m : g_mounts) {
    if (path == m.data()) m[0] = '\0';
  }
}

void registerNamespace(const std::string& name) {
  std::lock_guard lock(g_mu);
  if (name.size() >= kNameLen) return;
  for (auto& n : g_names) {
    if (n[0] != '\0') continue;
    std::memcpy(n.data(), name.c_str(), name.size() + 1);
    return;
  }
}

void forgetNamespace(const std::string& name) {
  std::lock_guard lock(g_mu);
  for (auto& n : g_names) {
    if (name == n.data()) n[0] = '\0';
  }
}

void installSignalCleanup() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  sa.sa_flags = SA_RESETHAND;
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE}) sigaction(sig, &sa, nullptr);
}

bool deleteNamespace(const std::string& name) {
  const std::string path = "/run/netns/" + name;
  umount2(path.c_str(), MNT_DETACH);
  const bool ok = unlink(path.c_str()) == 0 || errno == ENOENT;
  forgetNamespace(name);
  return ok;
}

namespace {

// The pid of a run name "msim<pid>-...", or 0.
pid_t runPid(const std::string& name) {
  if (!name.starts_with(kRunNamePrefix)) return 0;
  const size_t dash = name.find('-');
  if (dash == std::string::npos) return 0;
  const std::string pid_text = name.substr(4, dash - 4);
  if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) return 0;
  return static_cast<pid_t>(std::stol(pid_text));
}

bool runIsDead(const std::string& name) {
  const pid_t pid = runPid(name);
  return pid != 0 && pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH;
}

// Processes whose command line mentions `dir` (the agents of a dead run).
std::vector<pid_t> processesNaming(const std::string& dir) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string n = e.path().filename().string();
    if (n.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmd.find(dir + "/") != std::string::npos) out.push_back(std::stoi(n));
  }
  return out;
}

// Mount points under `dir`, deepest first.
std::vector<std::string> mountsUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mounts");
  std::string dev, point, rest;
  while (in >> dev >> point && std::getline(in, rest)) {
    if (point.starts_with(dir + "/")) out.push_back(point);
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

void cleanupRunDir(const std::filesystem::path& dir, std::vector<std::string>& removed) {
  for (pid_t p : processesNaming(dir.string())) {
    if (kill(p, SIGKILL) == 0) removed.push_back("process " + std::to_string(p));
  }
  for (const auto& m : mountsUnder(dir.string())) {
    if (umount2(m.c_str(), MNT_DETACH) == 0) removed.push_back("mount " + m);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  removed.push_back("directory " + dir.string());
}

}  // namespace

std::vector<std::string> cleanupStaleRuns() {
  std::vector<std::string> removed;
  std::error_code ec;
  // Processes and mounts first: a dead run's agents hold their node namespaces open.
  for (const auto& e : std::filesystem::directory_iterator(kRunDirRoot, ec)) {
    if (runIsDead(e.path().filename().string())) cleanupRunDir(e.path(), removed);
  }
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string name = e.path().filename().string();
    if (!runIsDead(name)) continue;
    if (deleteNamespace(name)) removed.push_back("namespace " + name);
  }
  return removed;
}

}  // namespace membrane::sim
