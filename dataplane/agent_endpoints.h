// SPDX-License-Identifier: Apache-2.0
// The endpoint manager of a node agent: for each pod on the node, a veth pair from the
// node's namespace into the pod's namespace, the pod's address, its routes (a link-local
// gateway 169.254.1.1 answered by a permanent neighbour entry: the host-side veth's MAC),
// the node's route and neighbour entry towards the pod, and both programs attached to the
// host side. The pod's namespace is created and deleted by the caller (it owns the names).
// Interfaces are configured over rtnetlink (dataplane/rtnl), no `ip` process per pod.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/agent.h"
#include "dataplane/datapath.h"
#include "dataplane/result.h"

namespace membrane::dataplane {

inline constexpr uint32_t kPodGateway = 0xa9fe0101;  // 169.254.1.1, host order
inline constexpr int kPodMtu = 1450;                 // room for the VXLAN header

struct PodNet {
  std::string name;   // "namespace/pod"
  std::string netns;  // existing namespace of the pod
  uint32_t ip = 0;    // host order
};

// Deterministic MACs derived from the pod address (locally administered, unicast).
Mac podMac(uint32_t ip);
Mac hostVethMac(uint32_t ip);
std::string hostVethName(uint32_t ip);  // "lxc0af40a0a": unique per node, < IFNAMSIZ

// Runs `ip [-n netns] -batch` over `lines`; the error carries ip's output.
Status ipBatch(const std::string& netns, const std::vector<std::string>& lines);

class EndpointManager {
 public:
  EndpointManager(std::string node_netns, const Datapath* datapath)
      : node_netns_(std::move(node_netns)), dp_(datapath) {}

  // Wires every pod of `pods` (their namespaces exist) and attaches the programs.
  Status add(const std::vector<PodNet>& pods);
  // Detaches and removes the node's side of a pod (the caller deletes its namespace).
  Status remove(const std::string& name);
  // Sets ifindex and MACs of the endpoints this manager wired.
  void decorate(NodeState& state) const;
  bool has(const std::string& name) const { return pods_.count(name) != 0; }
  const std::string& nodeNetns() const { return node_netns_; }

 private:
  struct Wired {
    PodNet pod;
    int ifindex = 0;
    std::unique_ptr<TcAttachment> attachment;
  };
  std::string node_netns_;
  const Datapath* dp_;
  std::map<std::string, Wired> pods_;
};

}  // namespace membrane::dataplane
