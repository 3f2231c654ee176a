// SPDX-License-Identifier: Apache-2.0
// The CNI_* environment of one plugin invocation, parsed and validated (error code 4).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "cni/wire.h"

namespace membrane::cni {

enum class Command { Add, Del, Check, Version, Status, Gc };

// CNI_ARGS, "K=V;K=V" (CNI conventions). Unknown keys are an error unless IgnoreUnknown=1.
struct CniArgs {
  std::string podNamespace = "default";  // K8S_POD_NAMESPACE; podman sends none
  std::string podName;                   // K8S_POD_NAME
  std::string ip;                        // IP=, a requested IPv4 address; empty: none
};

struct Env {
  Command command = Command::Version;
  std::string containerId;  // CNI_CONTAINERID
  std::string netns;        // CNI_NETNS (a path)
  std::string ifname;       // CNI_IFNAME
  std::string path;         // CNI_PATH (accepted; membrane-cni delegates to no plugin)
  CniArgs args;
};

using Getenv = std::function<const char*(const char*)>;

// Which variables each command needs follows the spec; DEL does not need CNI_NETNS (the
// namespace may be gone). Existence of the netns is checked by checkNetns().
Result<Env> parseEnv(const Getenv& getenv);
Result<Command> parseCommand(const Getenv& getenv);
Result<CniArgs> parseCniArgs(const std::string& text);
// CNI_NETNS must name an existing network namespace file (ADD, CHECK).
std::optional<Error> checkNetns(const std::string& path);

}  // namespace membrane::cni
