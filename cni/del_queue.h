// SPDX-License-Identifier: Apache-2.0
// The DEL spool: a DEL that cannot reach the agent is written here and succeeds; the agent
// (on start) or the plugin (on its next successful contact) applies it. File format:
// docs/agent-api.md, "Queued DELs".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cni/wire.h"

namespace membrane::cni {

struct QueuedDel {
  std::string containerId;
  std::string ifname;
  std::string netns;     // may be empty
  std::string network;   // the netconf's name
  std::string queuedAt;  // RFC 3339 UTC
  std::string file;      // path it was read from (not serialized)
};

class DelQueue {
 public:
  explicit DelQueue(std::string dir) : dir_(std::move(dir)) {}

  // Writes <dir>/<containerId>:<ifname>.json atomically (temp file, fsync, rename); creates
  // the directory (0700) when missing. Queuing the same attachment twice keeps one file.
  std::optional<Error> push(const QueuedDel& d) const;
  // Every well-formed entry, oldest first. Malformed files are reported in `problems` and left
  // in place for a human (never silently dropped: that would leak an endpoint).
  std::vector<QueuedDel> list(std::vector<std::string>* problems = nullptr) const;
  // Removes an applied entry; a file already gone is fine (two plugins replaying at once).
  void remove(const QueuedDel& d) const;
  // Renames an entry the agent refused to <file>.rejected (kept for a human, not replayed).
  void reject(const QueuedDel& d) const;
  std::string fileFor(const std::string& containerId, const std::string& ifname) const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

std::string nowRfc3339();

}  // namespace membrane::cni
