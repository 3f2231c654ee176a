// SPDX-License-Identifier: Apache-2.0
// The cluster store of a netns run with `--desired-state etcd`: a real etcd process (Debian
// etcd) in a namespace of the run, with a private data directory under the run directory,
// its PID registered (run_registry.h) so that a signal or a crash of the simulator kills
// it; and the way the simulator writes each step's objects into it: the real `membrane
// apply` / `membrane delete` binaries, run inside that namespace, as a user runs kubectl.
// stop() kills etcd by its PID and removes its directory: nothing of the run remains.
//
// NetnsBackend runs one per run (docs/scenarios.md#the-cluster-store).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/result.h"

namespace membrane::sim {

// The etcd binary: $MEMBRANE_ETCD_BIN, else /usr/bin/etcd or /usr/local/bin/etcd. An error
// names what was tried and the Debian package.
dataplane::Result<std::string> findEtcdBinary();

struct ClusterStoreSpec {
  std::string etcd_binary;
  std::string membrane_binary;  // the CLI: apply, delete, get
  std::string netns;            // etcd listens here and the CLI runs here
  std::string dir;              // <dir>/{data,etcd.log,cli.log,step-<i>/}; removed by stop()
  uint32_t ip = 0;              // host order; etcd's client URL is http://<ip>:2379
  std::string cluster_name = "default";
  uint32_t cluster_id = 0;
};

class ClusterStore {
 public:
  // Starts etcd and waits (polling `membrane get nodes -A`, at most `timeout_ms`) until it
  // answers; on failure everything is undone and the error carries etcd's log tail.
  static dataplane::Result<std::unique_ptr<ClusterStore>> start(const ClusterStoreSpec& spec,
                                                                int timeout_ms);
  ~ClusterStore();
  ClusterStore(const ClusterStore&) = delete;
  ClusterStore& operator=(const ClusterStore&) = delete;

  std::string endpoint() const;  // http://<ip>:2379
  pid_t pid() const { return pid_; }
  std::string dir() const { return spec_.dir; }

  // Makes the stored objects exactly those of `files` (name -> YAML, as agentManifests
  // gives them): the files go to <dir>/step-<step>/apply/ and every object is written with
  // `membrane apply -f` (validated first, one transaction; refused: nothing changes), then
  // objects a previous sync() stored that `files` no longer has are removed with
  // `membrane delete -f` (<dir>/step-<step>/delete.yaml). Returns the revision the last of
  // them printed: an agent whose desiredState.revision reached it applied this step.
  dataplane::Result<int64_t> sync(const std::map<std::string, std::string>& files, size_t step);

  // Kills etcd by its PID (SIGTERM, SIGKILL after a bounded wait) and removes the directory.
  dataplane::Status stop();

 private:
  explicit ClusterStore(ClusterStoreSpec spec) : spec_(std::move(spec)) {}
  // `membrane <args> --etcd-endpoints <endpoint()>` in the namespace; its output when it
  // exited 0, else an error with the exit status and the output's tail.
  dataplane::Result<std::string> cli(std::vector<std::string> args) const;
  dataplane::Status waitAnswering(int timeout_ms);

  ClusterStoreSpec spec_;
  pid_t pid_ = -1;
  // What the last sync() stored: object identity (Kind/namespace/name) -> a document
  // naming it (kind, apiVersion, metadata.name/namespace), for a later delete.
  std::map<std::string, std::string> stored_;
};

// The N of the last "revision N" line of apply/delete output.
std::optional<int64_t> printedRevision(const std::string& output);

}  // namespace membrane::sim
