// SPDX-License-Identifier: Apache-2.0
#include "agent/proxy_supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>

namespace membrane::agent {

ProxySupervisor::ProxySupervisor(ProxySupervisorConfig cfg) : cfg_(std::move(cfg)) {}

ProxySupervisor::~ProxySupervisor() { stop(); }

bool ProxySupervisor::writeRules(const std::string& json, std::string* err) {
  const std::string tmp = rulesPath() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json;
    out.flush();
    if (!out) {
      *err = "cannot write " + tmp;
      return false;
    }
  }
  if (std::rename(tmp.c_str(), rulesPath().c_str()) != 0) {
    *err = "cannot rename " + tmp + " to " + rulesPath();
    return false;
  }
  return true;
}

bool ProxySupervisor::spawn() {
  std::remove(readyPath().c_str());  // a stale file would announce a proxy that is not there
  std::vector<std::string> args = {
      cfg_.binary,    "--rules",   rulesPath(),    "--port",       std::to_string(cfg_.port),
      "--ready-file", readyPath(), "--access-log", accessLogPath()};
  args.insert(args.end(), cfg_.extra_args.begin(), cfg_.extra_args.end());
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    // The agent blocks SIGTERM/SIGINT for its sigwait thread; the proxy must see them.
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    // Nothing of the agent's (BPF map fds, the API socket) leaks into the proxy.
    ::close_range(3, ~0U, 0);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  return true;
}

bool ProxySupervisor::reconcile() {
  const bool was = listening_;
  if (pid_ > 0) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      listening_ = false;
      port_ = 0;
      ++restarts_;
      next_start_ = std::chrono::steady_clock::now() + cfg_.restart_backoff;
    }
  }
  if (pid_ > 0 && !listening_) {
    std::ifstream ready(readyPath());
    unsigned port = 0;
    if (ready >> port && port > 0 && port <= 65535) {
      port_ = static_cast<uint16_t>(port);
      listening_ = true;
    }
  }
  if (pid_ == 0 && std::chrono::steady_clock::now() >= next_start_) spawn();
  return was != listening_;
}

void ProxySupervisor::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 200; ++i) {  // up to 2 s for a clean exit
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = 0;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = 0;
}

dataplane::ProxyPortState proxyPortState(const ProxySupervisor& s) {
  dataplane::ProxyPortState st;
  if (s.listening()) st[s.port()] = {.ifindex = 0, .listening = true};
  return st;
}

}  // namespace membrane::agent
