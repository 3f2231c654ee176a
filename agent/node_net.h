// SPDX-License-Identifier: Apache-2.0
// The seam between the agent's logic and the kernel's network configuration: links,
// addresses, routes, neighbours, the VXLAN device and tc attachments. KernelNodeNet speaks
// rtnetlink (dataplane/rtnl) and libbpf in the agent's own network namespace (pod
// namespaces are joined by path on a helper thread); tests use a fake that records calls
// and fails on demand. No `ip` subprocesses.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "dataplane/result.h"

namespace membrane::dataplane {
class Datapath;
}

namespace membrane::agent {

using Mac = std::array<uint8_t, 6>;
using dataplane::Result;
using dataplane::Status;

inline constexpr uint32_t kPodGateway = 0xa9fe0101;  // 169.254.1.1, host order
inline constexpr uint16_t kVxlanPort = 4789;
inline constexpr const char* kVxlanName = "membrane_vxlan";
// The MAC of every node's VXLAN device (the inner destination MAC the datapath writes).
inline constexpr Mac kVxlanMac = {0x02, 0x00, 0x00, 0x00, 0xfe, 0x01};

// The pod's side of an endpoint.
struct PodInterface {
  std::string netns;   // path of the pod's network namespace
  std::string ifname;  // e.g. eth0
  uint32_t ip = 0;     // host order, configured as /32
  uint32_t mtu = 0;
  Mac mac{};          // the pod's interface
  Mac gateway_mac{};  // the host-side veth: answers for 169.254.1.1
};

class NodeNet {
 public:
  virtual ~NodeNet() = default;
  // The loaded datapath whose programs attach*() attach (bound once it is loaded: it needs
  // the VXLAN ifindex first).
  virtual void bind(const dataplane::Datapath* dp) { (void)dp; }
  // ifindex of `name` in the agent's namespace, nullopt when there is none.
  virtual std::optional<int> linkIndex(const std::string& name) = 0;
  // The interface holding address `ip` (the uplink), nullopt when none.
  virtual std::optional<int> linkHolding(uint32_t ip) = 0;
  // A veth pair: `host` here (up), its peer `pod.ifname` created inside `pod.netns`.
  virtual Status createVeth(const std::string& host, const Mac& host_mac,
                            const PodInterface& pod) = 0;
  // Inside the pod's namespace: lo and the interface up, the address, a link route to
  // 169.254.1.1, the default route via it and its permanent neighbour entry.
  virtual Status configurePod(const PodInterface& pod) = 0;
  // The pod's interface exists in its namespace and holds the address.
  virtual Status checkPod(const PodInterface& pod) = 0;
  virtual Status deleteLink(const std::string& name) = 0;  // absent: success
  // via 0: a link-scope route on `ifindex`.
  virtual Status replaceRoute(uint32_t dst, uint8_t len, uint32_t via, int ifindex) = 0;
  virtual Status deleteRoute(uint32_t dst, uint8_t len) = 0;  // absent: success
  virtual Status replaceNeighbour(int ifindex, uint32_t ip, const Mac& mac) = 0;
  virtual Status createVxlan(const std::string& name, const Mac& mac, uint16_t port,
                             uint32_t mtu) = 0;
  // tc programs (from/to container; from overlay), replacing what is attached: an agent
  // that restarts swaps in its freshly loaded programs without a gap.
  virtual Status attachEndpoint(int ifindex) = 0;
  virtual Status attachOverlay(int ifindex) = 0;
  // The endpoint programs of this datapath are attached to `ifindex`.
  virtual Status checkAttached(int ifindex) = 0;
};

class KernelNodeNet final : public NodeNet {
 public:
  void bind(const dataplane::Datapath* dp) override { dp_ = dp; }

  std::optional<int> linkIndex(const std::string& name) override;
  std::optional<int> linkHolding(uint32_t ip) override;
  Status createVeth(const std::string& host, const Mac& host_mac, const PodInterface& pod) override;
  Status configurePod(const PodInterface& pod) override;
  Status checkPod(const PodInterface& pod) override;
  Status deleteLink(const std::string& name) override;
  Status replaceRoute(uint32_t dst, uint8_t len, uint32_t via, int ifindex) override;
  Status deleteRoute(uint32_t dst, uint8_t len) override;
  Status replaceNeighbour(int ifindex, uint32_t ip, const Mac& mac) override;
  Status createVxlan(const std::string& name, const Mac& mac, uint16_t port, uint32_t mtu) override;
  Status attachEndpoint(int ifindex) override;
  Status attachOverlay(int ifindex) override;
  Status checkAttached(int ifindex) override;

 private:
  const dataplane::Datapath* dp_ = nullptr;
};

}  // namespace membrane::agent
