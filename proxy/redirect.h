// SPDX-License-Identifier: Apache-2.0
// The node-namespace plumbing that hands packets the datapath marked for the proxy
// (MARK_MAGIC_TO_PROXY | port << 16, bpf/lib/proxy.h) to the proxy's transparent socket,
// as Cilium does: a policy-routing rule sends marked packets to a table whose only route is
// "local" (deliver on this host), an iptables TPROXY rule picks the listening socket, and a
// socket-match rule marks replies to the proxy's upstream connections (bound to the client's
// address) so they too are delivered locally rather than routed to the client pod.
// Everything lives in one mangle chain and one routing table, so uninstall is exact.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace membrane::proxy {

inline constexpr uint32_t kProxyMarkMagic = 0x0200;
inline constexpr uint32_t kProxyMarkMask = 0x0f00;
inline constexpr int kProxyRouteTable = 2004;
inline constexpr int kProxyRulePref = 9000;
inline constexpr const char* kProxyChain = "MEMBRANE_PROXY";

using Command = std::vector<std::string>;
// Runs argv; returns the exit status (0 = success) and the command's stderr in `err`.
using CommandRunner = std::function<int(const Command&, std::string* err)>;
int execCommand(const Command& argv, std::string* err);  // fork/exec, no shell

std::vector<Command> redirectInstallCommands(uint16_t proxy_port);
std::vector<Command> redirectUninstallCommands();

// Removes leftovers first (idempotent), then installs; on a failure, removes what it added.
// Returns an empty string on success, else the failing command and its stderr.
std::string installRedirect(uint16_t proxy_port, const CommandRunner& run = execCommand);
// Removes everything; missing pieces are not errors (uninstall of nothing succeeds).
void uninstallRedirect(const CommandRunner& run = execCommand);

}  // namespace membrane::proxy
