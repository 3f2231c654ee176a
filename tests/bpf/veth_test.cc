// SPDX-License-Identifier: Apache-2.0
// Real traffic: a "pod" netns and a "host" netns joined by a veth pair, the programs on the
// host side, ping / TCP / UDP through an allow and a deny policy, events read back.
// Everything carries the prefix mbt<pid>- and is removed by RAII guards, also on failure.
// Nothing is routed outside the two namespaces.
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "dataplane/netns.h"
#include "tests/bpf/bpf_fixture.h"
#include "tests/support/privileged.h"

namespace membrane::dataplane::testing {
namespace {

using model::Direction;

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

int socketIn(const std::string& ns, int type) {
  auto fd = socketInNetns(ns, type);
  return fd ? *fd : -1;
}

sockaddr_in sockAddr(uint32_t addr, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(addr);
  sa.sin_port = htons(port);
  return sa;
}

int listenIn(const std::string& ns, uint32_t addr, uint16_t port) {
  const int fd = socketIn(ns, SOCK_STREAM);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  auto sa = sockAddr(addr, port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || listen(fd, 4) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// TCP connect + one request/response, 500 ms budget per step.
bool tcpExchange(const std::string& client_ns, const std::string& server_ns, uint32_t server,
                 uint16_t port) {
  Fd srv(listenIn(server_ns, server, port));
  Fd cli(socketIn(client_ns, SOCK_STREAM | SOCK_NONBLOCK));
  if (srv.fd < 0 || cli.fd < 0) return false;
  auto sa = sockAddr(server, port);
  connect(cli.fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  pollfd pfd{.fd = cli.fd, .events = POLLOUT, .revents = 0};
  int err = 0;
  socklen_t len = sizeof(err);
  if (poll(&pfd, 1, 500) != 1 || getsockopt(cli.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
      err != 0) {
    return false;
  }
  Fd conn(accept(srv.fd, nullptr, nullptr));
  if (conn.fd < 0 || send(cli.fd, "ping", 4, 0) != 4) return false;
  char buf[8] = {};
  if (recv(conn.fd, buf, sizeof(buf), 0) != 4 || send(conn.fd, "pong", 4, 0) != 4) return false;
  pollfd in{.fd = cli.fd, .events = POLLIN, .revents = 0};
  return poll(&in, 1, 500) == 1 && recv(cli.fd, buf, sizeof(buf), 0) == 4;
}

// UDP request, echoed back by the server.
bool udpExchange(const std::string& client_ns, const std::string& server_ns, uint32_t server,
                 uint16_t port) {
  Fd srv(socketIn(server_ns, SOCK_DGRAM));
  Fd cli(socketIn(client_ns, SOCK_DGRAM));
  auto sa = sockAddr(server, port);
  if (bind(srv.fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return false;
  timeval tv{.tv_sec = 0, .tv_usec = 500000};
  setsockopt(srv.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(cli.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (sendto(cli.fd, "q", 1, 0, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 1) return false;
  char buf[8];
  sockaddr_in from{};
  socklen_t flen = sizeof(from);
  if (recvfrom(srv.fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &flen) != 1) {
    return false;
  }
  sendto(srv.fd, "a", 1, 0, reinterpret_cast<sockaddr*>(&from), flen);
  return recv(cli.fd, buf, sizeof(buf), 0) == 1;
}

constexpr uint32_t kVethPod = ipv4Addr(10, 77, 0, 1);
constexpr uint32_t kVethPeer = ipv4Addr(10, 77, 0, 2);

TEST(Veth, RealTrafficThroughAllowAndDenyPolicies) {
  MEMBRANE_REQUIRE_OR_SKIP(geteuid() == 0, "needs root (netns, BPF)");
  MEMBRANE_REQUIRE_OR_SKIP(runQuiet("ip -V") == 0, "iproute2 not installed");
  // Destroyed last: deletes both namespaces (and with them the veth and tc hooks).
  auto topo_r = VethPair::create(
      {.prefix = "mbt" + std::to_string(getpid()) + "-", .addr_a = kVethPod, .addr_b = kVethPeer});
  MEMBRANE_REQUIRE_OR_SKIP(topo_r, "cannot create netns/veth here: " << topo_r.error().message());
  const VethPair& topo = **topo_r;
  auto dp = Datapath::load(smallConfig());
  MEMBRANE_REQUIRE_OR_SKIP(dp, "kernel refused the datapath: " << dp.error().message());
  Datapath& d = **dp;
  const int ifindex = topo.ifindexB();  // host side, in namespace b
  EndpointWriter eps(d.endpoints());
  ASSERT_TRUE(eps.apply({{kVethPod,
                          {.endpoint_id = 5,
                           .identity = kPodIdentity,
                           .ifindex = static_cast<uint32_t>(ifindex)}}})
                  .ok());
  IpcacheWriter ipc(d.ipcache());
  ASSERT_TRUE(ipc.apply({{{.addr = kVethPeer, .len = 32}, {.identity = kIdA}},
                         {{.addr = kVethPod, .len = 32}, {.identity = kPodIdentity}}})
                  .ok());
  PolicyWriter pol(d.policyStore());
  model::MapState s;
  s.entries[mkey(kIdA, Direction::Egress, 1, 8, 24)] = mallow(1);      // ping
  s.entries[mkey(kIdA, Direction::Egress, 6, 8080, 24)] = mallow(2);   // TCP
  s.entries[mkey(kIdA, Direction::Egress, 17, 5353, 24)] = mallow(3);  // UDP
  s.entries[mkey(0, Direction::Egress, 6, 8081, 24)] = mdeny(4);       // explicit deny
  s.entries[mkey(kIdA, Direction::Egress, 6, 0, 8)] = mallow(5);       // ...beaten by it
  s.entries[mkey(kIdA, Direction::Ingress, 6, 9090, 24)] = mallow(6);
  ASSERT_TRUE(pol.apply(5, s).ok());

  auto reader = EventReader::create(d.eventsFd());
  ASSERT_TRUE(reader.ok());
  std::unique_ptr<TcAttachment> attachment;
  {
    std::string err;
    ASSERT_TRUE(runInNetns(topo.nsB(), [&] {
                  auto a = d.attach(ifindex);
                  if (a) {
                    attachment = std::move(*a);
                  } else {
                    err = a.error().message();
                  }
                }).ok());
    ASSERT_NE(attachment, nullptr) << err;
  }

  const std::string ping = "ip netns exec " + topo.nsA() + " ping -c 1 -W 1 10.77.0.2";
  EXPECT_EQ(runQuiet(ping), 0) << "egress ICMP echo allowed";
  EXPECT_NE(runQuiet("ip netns exec " + topo.nsB() + " ping -c 1 -W 1 10.77.0.1"), 0)
      << "ingress ICMP not allowed";
  EXPECT_TRUE(tcpExchange(topo.nsA(), topo.nsB(), kVethPeer, 8080));
  EXPECT_FALSE(tcpExchange(topo.nsA(), topo.nsB(), kVethPeer, 8081));
  EXPECT_TRUE(tcpExchange(topo.nsA(), topo.nsB(), kVethPeer, 8082));  // proto-only allow
  EXPECT_TRUE(udpExchange(topo.nsA(), topo.nsB(), kVethPeer, 5353));
  EXPECT_FALSE(udpExchange(topo.nsA(), topo.nsB(), kVethPeer, 5354));
  EXPECT_TRUE(tcpExchange(topo.nsB(), topo.nsA(), kVethPod, 9090));
  EXPECT_FALSE(tcpExchange(topo.nsB(), topo.nsA(), kVethPod, 9091));

  std::vector<FlowEvent> evs;
  auto n = (*reader)->poll(100, [&](const FlowEvent& ev) { evs.push_back(ev); });
  ASSERT_TRUE(n.ok());
  auto find = [&](uint8_t dir, uint8_t proto, uint16_t dport, uint8_t reason) {
    for (const FlowEvent& ev : evs) {
      if (ev.direction == dir && ev.protocol == proto && ev.drop_reason == reason &&
          (proto == 1 || ntohs(ev.dport) == dport)) {
        return true;
      }
    }
    return false;
  };
  std::string all;
  for (const FlowEvent& ev : evs) all += formatFlowEvent(ev) + "\n";
  SCOPED_TRACE(all);
  EXPECT_TRUE(find(MEMBRANE_DIR_EGRESS, 1, 0, 0));
  EXPECT_TRUE(find(MEMBRANE_DIR_INGRESS, 1, 0, MEMBRANE_DROP_POLICY));
  EXPECT_TRUE(find(MEMBRANE_DIR_EGRESS, 6, 8080, 0));
  EXPECT_TRUE(find(MEMBRANE_DIR_EGRESS, 6, 8081, MEMBRANE_DROP_POLICY_DENY));
  EXPECT_TRUE(find(MEMBRANE_DIR_EGRESS, 17, 5353, 0));
  EXPECT_TRUE(find(MEMBRANE_DIR_EGRESS, 17, 5354, MEMBRANE_DROP_POLICY));
  EXPECT_TRUE(find(MEMBRANE_DIR_INGRESS, 6, 9090, 0));
  EXPECT_TRUE(find(MEMBRANE_DIR_INGRESS, 6, 9091, MEMBRANE_DROP_POLICY));
  for (const FlowEvent& ev : evs) {
    EXPECT_EQ(ev.ifindex, static_cast<uint32_t>(ifindex));
    EXPECT_EQ(ev.endpoint_id, 5);
  }
  auto m = readMetrics(d.metricsFd());
  ASSERT_TRUE(m.ok());
  EXPECT_GT(findMetric(*m, MEMBRANE_DIR_EGRESS, 0).packets, 5u);
  EXPECT_GE(findMetric(*m, MEMBRANE_DIR_EGRESS, MEMBRANE_DROP_POLICY_DENY).packets, 1u);
}

}  // namespace
}  // namespace membrane::dataplane::testing
