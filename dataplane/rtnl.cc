// SPDX-License-Identifier: Apache-2.0
#include "dataplane/rtnl.h"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace membrane::dataplane {
namespace {

// Appends a struct (the request header after nlmsghdr) to `msg`.
template <typename T>
void put(std::vector<uint8_t>& msg, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  msg.insert(msg.end(), p, p + sizeof(T));
  msg.resize(NLMSG_ALIGN(msg.size()));
}

void attr(std::vector<uint8_t>& msg, uint16_t type, const void* data, size_t len) {
  rtattr a{};
  a.rta_type = type;
  a.rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
  const auto* h = reinterpret_cast<const uint8_t*>(&a);
  msg.insert(msg.end(), h, h + sizeof(a));
  const auto* d = static_cast<const uint8_t*>(data);
  msg.insert(msg.end(), d, d + len);
  msg.resize(NLMSG_ALIGN(msg.size()));
}

std::vector<uint8_t> header(uint16_t type, uint16_t flags) {
  std::vector<uint8_t> msg(sizeof(nlmsghdr), 0);
  auto* h = reinterpret_cast<nlmsghdr*>(msg.data());
  h->nlmsg_type = type;
  h->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
  return msg;
}

}  // namespace

Result<Rtnl> Rtnl::open() {
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return errnoError(errno, "netlink socket");
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    const int e = errno;
    close(fd);
    return errnoError(e, "bind netlink socket");
  }
  return Rtnl(fd);
}

Rtnl::~Rtnl() {
  if (fd_ >= 0) close(fd_);
}

Status Rtnl::request(std::vector<uint8_t>& msg, const char* what) {
  auto* h = reinterpret_cast<nlmsghdr*>(msg.data());
  h->nlmsg_len = static_cast<uint32_t>(msg.size());
  h->nlmsg_seq = seq_++;
  if (send(fd_, msg.data(), msg.size(), 0) != static_cast<ssize_t>(msg.size())) {
    return errnoError(errno, std::string("netlink send: ") + what);
  }
  alignas(nlmsghdr) uint8_t buf[4096];
  for (;;) {
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoError(errno, std::string("netlink recv: ") + what);
    }
    int len = static_cast<int>(n);
    for (auto* r = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(r, len); r = NLMSG_NEXT(r, len)) {
      if (r->nlmsg_seq != h->nlmsg_seq || r->nlmsg_type != NLMSG_ERROR) continue;
      const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(r));
      if (err->error == 0) return {};
      return errnoError(-err->error, what);
    }
  }
}

Status Rtnl::linkUp(int ifindex, uint32_t mtu) {
  auto msg = header(RTM_NEWLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  ifi.ifi_flags = IFF_UP;
  ifi.ifi_change = IFF_UP;
  put(msg, ifi);
  if (mtu != 0) attr(msg, IFLA_MTU, &mtu, sizeof(mtu));
  return request(msg, "set link up");
}

Status Rtnl::addAddress(int ifindex, uint32_t ip, uint8_t prefix_len) {
  auto msg = header(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  ifa.ifa_prefixlen = prefix_len;
  ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  ifa.ifa_index = static_cast<uint32_t>(ifindex);
  put(msg, ifa);
  const uint32_t be = htonl(ip);
  attr(msg, IFA_LOCAL, &be, 4);
  attr(msg, IFA_ADDRESS, &be, 4);
  return request(msg, "add address");
}

Status Rtnl::addRoute(uint32_t dst, uint8_t prefix_len, uint32_t gateway, int ifindex) {
  auto msg = header(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
  rtmsg rt{};
  rt.rtm_family = AF_INET;
  rt.rtm_dst_len = prefix_len;
  rt.rtm_table = RT_TABLE_MAIN;
  rt.rtm_protocol = RTPROT_BOOT;
  rt.rtm_scope = gateway == 0 ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  rt.rtm_type = RTN_UNICAST;
  put(msg, rt);
  if (prefix_len > 0) {
    const uint32_t be = htonl(dst);
    attr(msg, RTA_DST, &be, 4);
  }
  if (gateway != 0) {
    const uint32_t be = htonl(gateway);
    attr(msg, RTA_GATEWAY, &be, 4);
  }
  const uint32_t oif = static_cast<uint32_t>(ifindex);
  attr(msg, RTA_OIF, &oif, 4);
  return request(msg, "add route");
}

Status Rtnl::addNeighbour(int ifindex, uint32_t ip, const std::array<uint8_t, 6>& mac) {
  auto msg = header(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
  ndmsg nd{};
  nd.ndm_family = AF_INET;
  nd.ndm_ifindex = ifindex;
  nd.ndm_state = NUD_PERMANENT;
  put(msg, nd);
  const uint32_t be = htonl(ip);
  attr(msg, NDA_DST, &be, 4);
  attr(msg, NDA_LLADDR, mac.data(), mac.size());
  return request(msg, "add neighbour");
}

}  // namespace membrane::dataplane
