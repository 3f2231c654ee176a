// SPDX-License-Identifier: Apache-2.0
// A real membrane-agent process for one node of a netns run: started inside the node's
// network namespace with its own bpffs mount, state directory, watched manifest directory
// and API socket under the run directory; its PID is registered so that a signal or a crash
// of the simulator kills it (run_registry.h). stop() ends it (SIGTERM, then SIGKILL after a
// bounded wait), runs `membrane-agent --uninstall` for the node and removes the mount and
// the directory: nothing of the run remains.
//
// NetnsBackend runs one per node (docs/scenarios.md).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dataplane/result.h"
#include "sim/agent_flows.h"

namespace membrane::sim {

// The path of a product binary: `flag` when given, else the environment variable `env`,
// else `name` next to the running executable (build/cmd/). An error names the path tried.
dataplane::Result<std::string> findProductBinary(const std::string& name, const std::string& flag,
                                                 const char* env);

// fork + setns into /run/netns/<netns> + exec `args` (args[0] the binary), stdout and stderr
// appended to `log`. The caller registers the PID (run_registry.h) if it outlives a call.
dataplane::Result<pid_t> spawnInNetns(const std::string& netns,
                                      const std::vector<std::string>& args, const std::string& log);
// Waits for `pid` at most `ms`; true when it exited (reaped).
bool reapWithin(pid_t pid, int ms);

struct AgentSpec {
  std::string binary;   // membrane-agent
  std::string netns;    // the node's namespace (/run/netns/<netns>)
  std::string run_dir;  // <run_dir>/{bpf,state,manifests,membrane.sock,agent.log}
  std::string node_name;
  uint32_t node_ip = 0;  // host order
  std::string pod_cidr;  // "10.0.1.0/24"
  std::string routing;   // overlay | native
  std::string cluster_name = "default";
  uint32_t cluster_id = 0;
  // Pods keep the addresses the scenario gives them, also outside the node's pod CIDR.
  bool allow_outside_pod_cidr = false;
  // Empty: the desired state is the watched directory manifestDir(). Else the etcd client
  // URL: `--desired-state etcd` under the default prefix, no watched directory.
  std::string etcd_endpoint;
};

class AgentProcess {
 public:
  // Creates the directories, mounts bpffs, starts the agent and waits until /healthz
  // answers 200 (polling, at most `timeout_ms`); on failure everything is undone and the
  // error carries the agent log's tail.
  static dataplane::Result<std::unique_ptr<AgentProcess>> start(const AgentSpec& spec,
                                                                int timeout_ms);
  ~AgentProcess();
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::string dir() const { return spec_.run_dir; }  // removed by stop()
  std::string socket() const { return spec_.run_dir + "/membrane.sock"; }
  std::string manifestDir() const { return spec_.run_dir + "/manifests"; }
  // Makes the watched directory hold exactly `files` (name -> YAML text; names without
  // directories): each written to a temp file (ignored by the agent: not .yaml) and renamed
  // into place, so the agent never reads half a file; files not listed are removed.
  // Returns the digest the agent will report once it applied them (agent::manifestDigest).
  dataplane::Result<std::string> writeManifests(const std::map<std::string, std::string>& files);
  // Polls /status until desiredState.applied is `digest`; on timeout the error carries the
  // agent's lastError (e.g. the manifest it refused).
  dataplane::Status waitApplied(const std::string& digest, int timeout_ms);
  // etcd mode: polls /status until desiredState.revision (the store revision of the objects
  // the agent last applied) is at least `revision`; on timeout as waitApplied.
  dataplane::Status waitRevision(int64_t revision, int timeout_ms);
  std::string observerSocket() const { return spec_.run_dir + "/hubble.sock"; }
  // The node's flows as the agent serves them (its Hubble Observer, followed from the first
  // call on): the agent consumes its datapath's ring buffer, a ring buffer has one reader.
  // The stream is valid until stop().
  dataplane::Result<AgentFlowStream*> flows();
  // Ends the process, uninstalls the node's state, unmounts and removes the run directory.
  dataplane::Status stop();

 private:
  explicit AgentProcess(AgentSpec spec) : spec_(std::move(spec)) {}
  std::vector<std::string> args(bool uninstall) const;
  dataplane::Status waitHealthy(int timeout_ms);
  // Polls /status until `done(desiredState)`; on timeout the error names `what` and carries
  // the agent's lastError.
  dataplane::Status waitDesired(const std::function<bool(const nlohmann::json&)>& done,
                                const std::string& what, int timeout_ms);

  AgentSpec spec_;
  pid_t pid_ = -1;
  bool mounted_ = false;
  std::unique_ptr<AgentFlowStream> flows_;
};

}  // namespace membrane::sim
