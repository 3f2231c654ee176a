// SPDX-License-Identifier: Apache-2.0
// The agent's side of the L7 proxy (docs/l7.md): starts membrane-proxy as a child process,
// restarts it when it dies (after a back-off), knows when it listens (its ready file), and
// writes its rules file atomically. Level-triggered like the rest of the agent: reconcile()
// looks at the child and the ready file and acts; the owner turns listening() into the
// membrane_proxy_ports entry (proxyPortState) so L7 flows are redirected only while a proxy
// accepts them, and fail closed (PROXY_LOOKUP_FAILED) while it does not.
// membrane-agent runs one when l7ProxyBinary is set (cmd/agent_main.cc, docs/l7.md).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/proxy_writer.h"

namespace membrane::agent {

struct ProxySupervisorConfig {
  std::string binary;                   // path of membrane-proxy
  std::string state_dir;                // rules.json, proxy.ready and access.log live here
  uint16_t port = 15001;                // 0: any free port (tests); the ready file then names it
  std::vector<std::string> extra_args;  // e.g. --install-redirect --upstream-original-source
  std::chrono::milliseconds restart_backoff{500};
};

class ProxySupervisor {
 public:
  explicit ProxySupervisor(ProxySupervisorConfig cfg);
  ~ProxySupervisor();  // stops the child: SIGTERM, then SIGKILL if it lingers
  ProxySupervisor(const ProxySupervisor&) = delete;
  ProxySupervisor& operator=(const ProxySupervisor&) = delete;

  // Side file + rename: the proxy never reads a half-written file.
  bool writeRules(const std::string& json, std::string* err);
  // Reaps a dead child, starts one when none runs (after the back-off), notices readiness.
  // Returns true when listening() changed.
  bool reconcile();
  bool listening() const { return listening_; }
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }  // the listening port (0 while not listening)
  unsigned restarts() const { return restarts_; }
  std::string rulesPath() const { return cfg_.state_dir + "/rules.json"; }
  std::string readyPath() const { return cfg_.state_dir + "/proxy.ready"; }
  std::string accessLogPath() const { return cfg_.state_dir + "/access.log"; }

 private:
  bool spawn();
  void stop();

  ProxySupervisorConfig cfg_;
  pid_t pid_ = 0;
  bool listening_ = false;
  uint16_t port_ = 0;
  unsigned restarts_ = 0;
  std::chrono::steady_clock::time_point next_start_{};
};

// What the agent writes into membrane_proxy_ports: the proxy's port as LISTENING while it
// listens, nothing otherwise (the datapath then drops L7 flows, fail closed).
dataplane::ProxyPortState proxyPortState(const ProxySupervisor& s);

}  // namespace membrane::agent
