// SPDX-License-Identifier: Apache-2.0
// A minimal rtnetlink client for the endpoint manager: the handful of requests that
// configure a pod's side of its veth (link up + MTU, address, routes, permanent neighbour),
// sent from a socket opened inside the pod's namespace. One process per pod (`ip -batch`)
// cost ~10 ms of fork/exec/setns; these requests cost well under a millisecond.
#pragma once

#include <array>
#include <cstdint>
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

 private:
  explicit Rtnl(int fd) : fd_(fd) {}
  Status request(std::vector<uint8_t>& msg, const char* what);

  int fd_ = -1;
  uint32_t seq_ = 1;
};

}  // namespace membrane::dataplane
