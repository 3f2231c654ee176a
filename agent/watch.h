// SPDX-License-Identifier: Apache-2.0
// The directory source's trigger: inotify on the watched directory and its subdirectories
// (also those created later: the tree is rescanned after every change). wait() returns true when
// something changed, after a short quiet period so that an editor's write + rename counts once.
#pragma once

#include <string>
#include <utility>

#include "dataplane/result.h"

namespace membrane::agent {

class DirWatcher {
 public:
  static dataplane::Result<DirWatcher> open(const std::string& dir);
  DirWatcher(DirWatcher&& o) noexcept : fd_(o.fd_), wake_(o.wake_), dir_(std::move(o.dir_)) {
    o.fd_ = o.wake_ = -1;
  }
  DirWatcher(const DirWatcher&) = delete;
  DirWatcher& operator=(const DirWatcher&) = delete;
  DirWatcher& operator=(DirWatcher&&) = delete;
  ~DirWatcher();

  // Waits up to timeout_ms; true when the directory changed. False on timeout or wake().
  bool wait(int timeout_ms);
  // Makes a pending wait() return (shutdown, or an API change that needs a reconcile).
  void wake();

 private:
  DirWatcher(int fd, int wake, std::string dir) : fd_(fd), wake_(wake), dir_(std::move(dir)) {}
  bool drain();
  void watchSubdirectories();
  int fd_ = -1;
  int wake_ = -1;  // eventfd
  std::string dir_;
};

}  // namespace membrane::agent
