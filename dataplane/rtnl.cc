// SPDX-License-Identifier: Apache-2.0
#include "dataplane/rtnl.h"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
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
  if (len > 0) {
    const auto* d = static_cast<const uint8_t*>(data);
    msg.insert(msg.end(), d, d + len);
  }
  msg.resize(NLMSG_ALIGN(msg.size()));
}

// Nested attributes: begin() returns the offset to patch, end() fixes the length.
size_t beginNest(std::vector<uint8_t>& msg, uint16_t type) {
  const size_t at = msg.size();
  attr(msg, type, nullptr, 0);
  return at;
}

void endNest(std::vector<uint8_t>& msg, size_t at) {
  auto* a = reinterpret_cast<rtattr*>(msg.data() + at);
  a->rta_len = static_cast<uint16_t>(msg.size() - at);
}

void attrStr(std::vector<uint8_t>& msg, uint16_t type, const std::string& s) {
  attr(msg, type, s.c_str(), s.size() + 1);
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

Status Rtnl::deleteRoute(uint32_t dst, uint8_t prefix_len) {
  auto msg = header(RTM_DELROUTE, 0);
  rtmsg rt{};
  rt.rtm_family = AF_INET;
  rt.rtm_dst_len = prefix_len;
  rt.rtm_table = RT_TABLE_MAIN;
  rt.rtm_scope = RT_SCOPE_NOWHERE;
  put(msg, rt);
  if (prefix_len > 0) {
    const uint32_t be = htonl(dst);
    attr(msg, RTA_DST, &be, 4);
  }
  return request(msg, "delete route");
}

Status Rtnl::deleteLink(int ifindex) {
  auto msg = header(RTM_DELLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  put(msg, ifi);
  return request(msg, "delete link");
}

Status Rtnl::createVeth(const VethSpec& spec) {
  auto msg = header(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  put(msg, ifi);
  attrStr(msg, IFLA_IFNAME, spec.name);
  attr(msg, IFLA_ADDRESS, spec.mac.data(), spec.mac.size());
  if (spec.mtu != 0) attr(msg, IFLA_MTU, &spec.mtu, sizeof(spec.mtu));
  const size_t info = beginNest(msg, IFLA_LINKINFO);
  attrStr(msg, IFLA_INFO_KIND, "veth");
  const size_t data = beginNest(msg, IFLA_INFO_DATA);
  const size_t peer = beginNest(msg, VETH_INFO_PEER);
  ifinfomsg peer_ifi{};
  peer_ifi.ifi_family = AF_UNSPEC;
  put(msg, peer_ifi);  // the peer's attributes follow its own ifinfomsg
  attrStr(msg, IFLA_IFNAME, spec.peer_name);
  attr(msg, IFLA_ADDRESS, spec.peer_mac.data(), spec.peer_mac.size());
  if (spec.mtu != 0) attr(msg, IFLA_MTU, &spec.mtu, sizeof(spec.mtu));
  if (spec.peer_netns_fd >= 0) {
    const uint32_t fd = static_cast<uint32_t>(spec.peer_netns_fd);
    attr(msg, IFLA_NET_NS_FD, &fd, sizeof(fd));
  }
  endNest(msg, peer);
  endNest(msg, data);
  endNest(msg, info);
  return request(msg, "create veth");
}

Status Rtnl::createVxlan(const std::string& name, const std::array<uint8_t, 6>& mac,
                         uint16_t dstport, uint32_t mtu) {
  auto msg = header(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  put(msg, ifi);
  attrStr(msg, IFLA_IFNAME, name);
  attr(msg, IFLA_ADDRESS, mac.data(), mac.size());
  if (mtu != 0) attr(msg, IFLA_MTU, &mtu, sizeof(mtu));
  const size_t info = beginNest(msg, IFLA_LINKINFO);
  attrStr(msg, IFLA_INFO_KIND, "vxlan");
  const size_t data = beginNest(msg, IFLA_INFO_DATA);
  const uint8_t one = 1, zero = 0;
  attr(msg, IFLA_VXLAN_COLLECT_METADATA, &one, 1);
  attr(msg, IFLA_VXLAN_LEARNING, &zero, 1);
  const uint16_t port = htons(dstport);
  attr(msg, IFLA_VXLAN_PORT, &port, 2);
  endNest(msg, data);
  endNest(msg, info);
  return request(msg, "create vxlan");
}

}  // namespace membrane::dataplane
