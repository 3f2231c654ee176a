// SPDX-License-Identifier: Apache-2.0
#include "sim/run_registry.h"

#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <mutex>

namespace membrane::sim {
namespace {

// Fixed storage the signal handler can walk without allocating.
constexpr size_t kMaxNamespaces = 4096;
constexpr size_t kNameLen = 64;
std::array<std::array<char, kNameLen>, kMaxNamespaces> g_names{};
std::mutex g_mu;

void onSignal(int sig) {
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

std::vector<std::string> cleanupStaleRuns() {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with(kRunNamePrefix)) continue;
    const size_t dash = name.find('-');
    if (dash == std::string::npos) continue;
    const std::string pid_text = name.substr(4, dash - 4);
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH) continue;
    if (deleteNamespace(name)) removed.push_back(name);
  }
  return removed;
}

}  // namespace membrane::sim
