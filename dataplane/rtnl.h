// SPDX-License-Identifier: Apache-2.0
// A minimal rtnetlink client for the endpoint manager and the node agent: the handful of
// requests that configure a pod's side of its veth (link up + MTU, address, routes,
// permanent neighbour), create the veth pair with its peer in another namespace, the
// node's VXLAN device, and delete links and routes. Requests act on the namespace the
// socket was opened in. One process per pod (`ip -batch`) cost ~10 ms of fork/exec/setns;
// these requests cost well under a millisecond.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/result.h"

namespace membrane::dataplane {

class Rtnl {
 public:
  // Opens NETLINK_ROUTE in the calling thread's network namespace.
  static Result<Rtnl> open();
  Rtnl(Rtnl&& o) noexcept : fd_(o.fd_), seq_(o.seq_) { o.fd_ = -1; }
  Rtnl(const Rtnl&) = delete;
  Rtnl& operator=(const Rtnl&) = delete;
  Rtnl& operator=(Rtnl&&) = delete;
  ~Rtnl();

  // Addresses in host order.
  Status linkUp(int ifindex, uint32_t mtu = 0);
  Status addAddress(int ifindex, uint32_t ip, uint8_t prefix_len);
  // gateway 0: a link-scope route on `ifindex`.
  Status addRoute(uint32_t dst, uint8_t prefix_len, uint32_t gateway, int ifindex);
  Status addNeighbour(int ifindex, uint32_t ip, const std::array<uint8_t, 6>& mac);
  Status deleteRoute(uint32_t dst, uint8_t prefix_len);
  Status deleteLink(int ifindex);

  struct VethSpec {
    std::string name;  // in this socket's namespace
    std::array<uint8_t, 6> mac{};
    std::string peer_name;
    std::array<uint8_t, 6> peer_mac{};
    int peer_netns_fd = -1;  // the peer is created directly in that namespace
    uint32_t mtu = 0;
  };
  Status createVeth(const VethSpec& spec);
  // A VXLAN device in external (collect_metadata) mode: the tunnel key comes from BPF.
  Status createVxlan(const std::string& name, const std::array<uint8_t, 6>& mac, uint16_t dstport,
                     uint32_t mtu = 0);

 private:
  explicit Rtnl(int fd) : fd_(fd) {}
  Status request(std::vector<uint8_t>& msg, const char* what);

  int fd_ = -1;
  uint32_t seq_ = 1;
};

}  // namespace membrane::dataplane
