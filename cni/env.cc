// SPDX-License-Identifier: Apache-2.0
#include "cni/env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <string_view>

namespace membrane::cni {
namespace {

Error envError(const std::string& var, const std::string& expected) {
  return Error{Code::InvalidEnvironment, "invalid environment variable " + var,
               var + ": " + expected};
}

bool validContainerId(const std::string& s) {
  if (s.empty() || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
      return false;
  return true;
}

// The spec: at most 15 bytes (IFNAMSIZ-1), not "." or "..", no '/', ':' or whitespace.
bool validIfname(const std::string& s) {
  if (s.empty() || s.size() > 15 || s == "." || s == "..") return false;
  for (char c : s)
    if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string getOr(const Getenv& getenv, const char* name) {
  const char* v = getenv(name);
  return v == nullptr ? "" : v;
}

}  // namespace

Result<Command> parseCommand(const Getenv& getenv) {
  const std::string c = getOr(getenv, "CNI_COMMAND");
  if (c == "ADD") return Command::Add;
  if (c == "DEL") return Command::Del;
  if (c == "CHECK") return Command::Check;
  if (c == "VERSION") return Command::Version;
  if (c == "STATUS") return Command::Status;
  if (c == "GC") return Command::Gc;
  return envError("CNI_COMMAND", c.empty() ? "missing; expected ADD, DEL, CHECK, VERSION, "
                                             "STATUS or GC"
                                           : "\"" + c +
                                                 "\" is not ADD, DEL, CHECK, VERSION, "
                                                 "STATUS or GC");
}

Result<CniArgs> parseCniArgs(const std::string& text) {
  CniArgs out;
  bool ignoreUnknown = false;
  std::vector<std::pair<std::string, std::string>> unknown;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    size_t end = text.find(';', start);
    std::string pair =
        text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? text.size() + 1 : end + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0)
      return envError("CNI_ARGS", "\"" + pair + "\" is not KEY=VALUE");
    std::string key = pair.substr(0, eq), value = pair.substr(eq + 1);
    if (key == "IgnoreUnknown") {
      ignoreUnknown = value == "1" || value == "true";
    } else if (key == "K8S_POD_NAMESPACE") {
      if (!value.empty()) out.podNamespace = value;
    } else if (key == "K8S_POD_NAME") {
      out.podName = value;
    } else if (key == "IP") {
      in_addr a{};
      if (inet_pton(AF_INET, value.c_str(), &a) != 1)
        return envError("CNI_ARGS", "IP=\"" + value + "\": expected an IPv4 address (dotted quad)");
      out.ip = value;
    } else if (key == "K8S_POD_INFRA_CONTAINER_ID" || key == "K8S_POD_UID") {
      // Known from the Kubernetes conventions; membrane keys endpoints by CNI_CONTAINERID.
    } else {
      unknown.emplace_back(key, value);
    }
  }
  if (!unknown.empty() && !ignoreUnknown)
    return envError("CNI_ARGS", "unknown key \"" + unknown.front().first +
                                    "\" (known: IP, K8S_POD_NAMESPACE, K8S_POD_NAME, "
                                    "K8S_POD_UID, K8S_POD_INFRA_CONTAINER_ID; or set "
                                    "IgnoreUnknown=1)");
  return out;
}

Result<Env> parseEnv(const Getenv& getenv) {
  Result<Command> cmd = parseCommand(getenv);
  if (!cmd) return cmd.error();
  Env env;
  env.command = cmd.value();
  if (env.command == Command::Version || env.command == Command::Status ||
      env.command == Command::Gc) {
    env.path = getOr(getenv, "CNI_PATH");
    return env;
  }
  env.containerId = getOr(getenv, "CNI_CONTAINERID");
  if (!validContainerId(env.containerId))
    return envError("CNI_CONTAINERID",
                    env.containerId.empty()
                        ? "missing"
                        : "\"" + env.containerId + "\": expected [A-Za-z0-9][A-Za-z0-9_.-]*");
  env.ifname = getOr(getenv, "CNI_IFNAME");
  if (!validIfname(env.ifname))
    return envError("CNI_IFNAME",
                    env.ifname.empty()
                        ? "missing"
                        : "\"" + env.ifname + "\": expected 1-15 bytes without '/', ':' or spaces");
  env.netns = getOr(getenv, "CNI_NETNS");
  if (env.netns.empty() && env.command != Command::Del)
    return envError("CNI_NETNS", "missing; expected the path of the container's network namespace");
  env.path = getOr(getenv, "CNI_PATH");
  Result<CniArgs> args = parseCniArgs(getOr(getenv, "CNI_ARGS"));
  if (!args) return args.error();
  env.args = args.value();
  return env;
}

std::optional<Error> checkNetns(const std::string& path) {
  if (path.empty() || path[0] != '/')
    return envError("CNI_NETNS", "\"" + path + "\": expected an absolute path");
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    return envError("CNI_NETNS", "\"" + path + "\": " + std::strerror(errno));
  // A bind-mounted nsfs file answers NS_GET_NSTYPE; a plain file or directory does not.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return envError("CNI_NETNS", "\"" + path + "\": " + std::strerror(errno));
  int type = ioctl(fd, NS_GET_NSTYPE);
  close(fd);
  if (type != CLONE_NEWNET)
    return envError("CNI_NETNS", "\"" + path + "\": not a network namespace");
  return std::nullopt;
}

}  // namespace membrane::cni
