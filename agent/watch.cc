// SPDX-License-Identifier: Apache-2.0
#include "agent/watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>

namespace membrane::agent {

namespace {
constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE |
                           IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;
}

dataplane::Result<DirWatcher> DirWatcher::open(const std::string& dir) {
  const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return dataplane::errnoError(errno, "inotify_init1");
  if (inotify_add_watch(fd, dir.c_str(), kMask) < 0) {
    const int e = errno;
    close(fd);
    return dataplane::errnoError(e, "watch " + dir);
  }
  const int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    const int e = errno;
    close(fd);
    return dataplane::errnoError(e, "eventfd");
  }
  DirWatcher w(fd, wake, dir);
  w.watchSubdirectories();
  return w;
}

// inotify is not recursive: every subdirectory gets its own watch. Adding a watch to a
// directory already watched returns the same descriptor, so a rescan after each change is
// cheap and catches directories created (or moved in) since the last one. The caller re-reads
// the whole tree after a change, so files written before the new watch existed are not lost.
void DirWatcher::watchSubdirectories() {
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir_, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory()) inotify_add_watch(fd_, it->path().c_str(), kMask);
  }
}

DirWatcher::~DirWatcher() {
  if (fd_ >= 0) close(fd_);
  if (wake_ >= 0) close(wake_);
}

bool DirWatcher::drain() {
  alignas(inotify_event) char buf[4096];
  bool any = false;
  for (;;) {
    const ssize_t n = read(fd_, buf, sizeof(buf));
    if (n <= 0) break;
    any = true;
  }
  return any;
}

bool DirWatcher::wait(int timeout_ms) {
  pollfd p[2] = {{.fd = fd_, .events = POLLIN, .revents = 0},
                 {.fd = wake_, .events = POLLIN, .revents = 0}};
  if (poll(p, 2, timeout_ms) <= 0) return false;
  if (p[1].revents & POLLIN) {
    uint64_t v = 0;
    (void)!read(wake_, &v, sizeof(v));
  }
  if (!(p[0].revents & POLLIN)) return false;
  // Quiet period: gather the burst of events one save produces.
  bool changed = drain();
  while (poll(p, 1, 50) > 0) changed = drain() || changed;
  if (changed) watchSubdirectories();
  return changed;
}

void DirWatcher::wake() {
  const uint64_t one = 1;
  (void)!write(wake_, &one, sizeof(one));
}

}  // namespace membrane::agent
