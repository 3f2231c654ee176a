// SPDX-License-Identifier: Apache-2.0
#include "proxy/redirect.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

namespace membrane::proxy {
namespace {

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", v);
  return buf;
}

std::string join(const Command& c) {
  std::string s;
  for (const auto& a : c) s += (s.empty() ? "" : " ") + a;
  return s;
}

}  // namespace

int execCommand(const Command& argv, std::string* err) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::dup2(pipefd[1], STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) ::dup2(devnull, STDOUT_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) {
    if (err) err->append(buf, static_cast<size_t>(n));
  }
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::vector<Command> redirectInstallCommands(uint16_t proxy_port) {
  const std::string table = std::to_string(kProxyRouteTable);
  const std::string any_mark = hex(kProxyMarkMagic) + "/" + hex(kProxyMarkMask);
  // The datapath writes the port into the mark's upper 16 bits (host order): match exactly
  // this proxy's port, so another proxy (DNS) can get its own rule.
  const std::string port_mark =
      hex(kProxyMarkMagic | (uint32_t{proxy_port} << 16)) + "/" + hex(0xffff0000u | kProxyMarkMask);
  return {
      {"ip", "rule", "add", "fwmark", any_mark, "lookup", table, "pref",
       std::to_string(kProxyRulePref)},
      {"ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", table},
      {"iptables", "-w", "-t", "mangle", "-N", kProxyChain},
      {"iptables", "-w", "-t", "mangle", "-I", "PREROUTING", "1", "-j", kProxyChain},
      // Replies to the proxy's upstream sockets (transparent, bound to the client's address).
      {"iptables", "-w", "-t", "mangle", "-A", kProxyChain, "-m", "socket", "--transparent",
       "--nowildcard", "-j", "MARK", "--set-mark", any_mark},
      {"iptables",
       "-w",
       "-t",
       "mangle",
       "-A",
       kProxyChain,
       "-p",
       "tcp",
       "-m",
       "mark",
       "--mark",
       port_mark,
       "-j",
       "TPROXY",
       "--on-port",
       std::to_string(proxy_port),
       "--on-ip",
       "0.0.0.0",
       "--tproxy-mark",
       any_mark},
  };
}

std::vector<Command> redirectUninstallCommands() {
  const std::string table = std::to_string(kProxyRouteTable);
  return {
      {"iptables", "-w", "-t", "mangle", "-D", "PREROUTING", "-j", kProxyChain},
      {"iptables", "-w", "-t", "mangle", "-F", kProxyChain},
      {"iptables", "-w", "-t", "mangle", "-X", kProxyChain},
      {"ip", "route", "del", "local", "0.0.0.0/0", "dev", "lo", "table", table},
      {"ip", "rule", "del", "fwmark", hex(kProxyMarkMagic) + "/" + hex(kProxyMarkMask), "lookup",
       table, "pref", std::to_string(kProxyRulePref)},
  };
}

std::string installRedirect(uint16_t proxy_port, const CommandRunner& run) {
  uninstallRedirect(run);
  for (const Command& c : redirectInstallCommands(proxy_port)) {
    std::string err;
    if (run(c, &err) != 0) {
      uninstallRedirect(run);  // no half-installed plumbing
      return join(c) + ": " + err;
    }
  }
  return "";
}

void uninstallRedirect(const CommandRunner& run) {
  for (const Command& c : redirectUninstallCommands()) {
    std::string ignored;
    run(c, &ignored);
  }
}

}  // namespace membrane::proxy
