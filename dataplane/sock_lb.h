// SPDX-License-Identifier: Apache-2.0
// Socket-level load balancing (bpf/membrane_sock.bpf.c): cgroup connect4/sendmsg4 hooks
// translate a Service VIP:port to a backend when a socket connects or sends, recvmsg4 and
// getpeername4 show the VIP again. An option beside the per-packet DNAT of the tc programs,
// over the same service maps (the loaded Datapath's, shared by fd), so LbWriter's updates
// reach both. Attached to one cgroup v2 directory; the links go when this object does.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dataplane/datapath.h"
#include "dataplane/result.h"

struct membrane_sock;
struct bpf_link;

namespace membrane::dataplane {

class SocketLb {
 public:
  // Loads the programs over `dp`'s service and Maglev maps (dp must outlive this).
  static Result<std::unique_ptr<SocketLb>> load(Datapath& dp);
  ~SocketLb();
  SocketLb(const SocketLb&) = delete;
  SocketLb& operator=(const SocketLb&) = delete;

  // Attaches the four hooks to the cgroup v2 directory `cgroup` (e.g. /sys/fs/cgroup for every
  // process of the node, or a pod's cgroup). On failure nothing stays attached.
  Status attach(const std::string& cgroup);
  void detach();
  bool attached() const { return !links_.empty(); }

 private:
  SocketLb() = default;
  membrane_sock* skel_ = nullptr;
  std::vector<bpf_link*> links_;
};

}  // namespace membrane::dataplane
