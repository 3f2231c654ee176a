// SPDX-License-Identifier: Apache-2.0
// Socket-level load balancing (bpf/membrane_sock.bpf.c, dataplane/sock_lb.h) with real
// sockets: the hooks attached to a fresh cgroup v2 directory, a child process moved into it
// and into a network namespace of its own (loopback only, so nothing can leave the machine),
// connecting to a Service VIP that no route leads to. With the hooks the connection reaches
// the backend and getpeername shows the VIP; a UDP datagram to the VIP reaches the backend and
// the reply seems to come from the VIP; a port the Service does not have is not translated;
// without the hooks (detached) nothing is.
#include "dataplane/sock_lb.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tests/bpf/bpf_fixture.h"

namespace membrane::dataplane::testing {
namespace {

constexpr uint32_t kVip = ipv4Addr(10, 96, 7, 10);
constexpr uint32_t kLoopback = ipv4Addr(127, 0, 0, 1);

// The cgroup v2 mount point ("" when there is none).
std::string cgroup2Root() {
  std::ifstream in("/proc/self/mounts");
  std::string dev, dir, type;
  std::string rest;
  while (in >> dev >> dir >> type && std::getline(in, rest)) {
    if (type == "cgroup2") return dir;
  }
  return "";
}

sockaddr_in addr(uint32_t ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip);
  a.sin_port = htons(port);
  return a;
}

// Child side, in its own netns and the test cgroup. Exit codes name the failed step.
enum ChildExit {
  kOk = 0,
  kSetup = 10,
  kTcpConnect = 11,
  kTcpPeer = 12,
  kTcpAccept = 13,
  kUdpDelivery = 14,
  kUdpReplySource = 15,
  kOtherPortTranslated = 16,
  kTranslatedWithoutHooks = 17,
};

bool loopbackUp() {
  const int s = ::socket(AF_INET, SOCK_DGRAM, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  const bool ok = ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0 &&
                  (ifr.ifr_flags |= IFF_UP, ::ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
  ::close(s);
  return ok;
}

int childWithHooks() {
  const int lsn = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in be = addr(kLoopback, 8080);
  if (::bind(lsn, reinterpret_cast<sockaddr*>(&be), sizeof be) != 0 || ::listen(lsn, 4) != 0) {
    return kSetup;
  }
  const int c = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in vip = addr(kVip, 80);
  if (::connect(c, reinterpret_cast<sockaddr*>(&vip), sizeof vip) != 0) return kTcpConnect;
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  if (::getpeername(c, reinterpret_cast<sockaddr*>(&peer), &len) != 0 ||
      peer.sin_addr.s_addr != htonl(kVip) || peer.sin_port != htons(80)) {
    return kTcpPeer;
  }
  if (::accept(lsn, nullptr, nullptr) < 0) return kTcpAccept;
  // UDP: unconnected sendto the VIP, the backend answers, recvfrom names the VIP.
  const int us = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in ube = addr(kLoopback, 5353);
  if (::bind(us, reinterpret_cast<sockaddr*>(&ube), sizeof ube) != 0) return kSetup;
  const int uc = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in uvip = addr(kVip, 53);
  if (::sendto(uc, "q", 1, 0, reinterpret_cast<sockaddr*>(&uvip), sizeof uvip) != 1) {
    return kUdpDelivery;
  }
  char buf[8];
  sockaddr_in from{};
  len = sizeof from;
  timeval tv{.tv_sec = 2, .tv_usec = 0};
  ::setsockopt(us, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(uc, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::recvfrom(us, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len) != 1) {
    return kUdpDelivery;
  }
  if (::sendto(us, "a", 1, 0, reinterpret_cast<sockaddr*>(&from), len) != 1) return kSetup;
  len = sizeof from;
  if (::recvfrom(uc, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len) != 1 ||
      from.sin_addr.s_addr != htonl(kVip) || from.sin_port != htons(53)) {
    return kUdpReplySource;
  }
  // A port the Service does not have: no route to the VIP, so the connect fails.
  const int o = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in other = addr(kVip, 81);
  if (::connect(o, reinterpret_cast<sockaddr*>(&other), sizeof other) == 0) {
    return kOtherPortTranslated;
  }
  return kOk;
}

int childWithoutHooks() {
  const int c = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in vip = addr(kVip, 80);
  return ::connect(c, reinterpret_cast<sockaddr*>(&vip), sizeof vip) == 0 ? kTranslatedWithoutHooks
                                                                          : kOk;
}

class SockLbTest : public BpfTest {
 protected:
  void SetUp() override {
    BpfTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    const std::string root = cgroup2Root();
    MEMBRANE_REQUIRE_OR_SKIP(!root.empty(), "no cgroup v2 hierarchy mounted (/proc/self/mounts)");
    cgroup_ = root + "/membrane-socklb-" + std::to_string(::getpid());
    ASSERT_EQ(::mkdir(cgroup_.c_str(), 0755), 0) << cgroup_ << ": " << std::strerror(errno);
    LbWriter lb(dp_->lbMaps());
    ServiceState s;
    s[{.vip = kVip, .port = 80, .proto = 6}] = {.backends = {{.ip = kLoopback, .port = 8080}}};
    s[{.vip = kVip, .port = 53, .proto = 17}] = {.backends = {{.ip = kLoopback, .port = 5353}},
                                                 .algorithm = LbAlgorithm::Maglev};
    auto r = lb.apply(s);
    ASSERT_TRUE(r.ok()) << r.error().message();
    auto sock = SocketLb::load(*dp_);
    MEMBRANE_REQUIRE_OR_SKIP(sock.ok(),
                             "kernel refused the socket LB programs: " << sock.error().message());
    sock_ = std::move(*sock);
  }
  void TearDown() override {
    sock_.reset();
    if (!cgroup_.empty()) ::rmdir(cgroup_.c_str());
  }

  // Runs `fn` in a child that joined the test cgroup and a fresh network namespace.
  int inChild(int (*fn)()) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      std::ofstream(cgroup_ + "/cgroup.procs") << ::getpid() << std::flush;
      if (::unshare(CLONE_NEWNET) != 0 || !loopbackUp()) ::_exit(kSetup);
      ::_exit(fn());
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string cgroup_;
  std::unique_ptr<SocketLb> sock_;
};

TEST_F(SockLbTest, ConnectAndSendToAVipReachTheBackendAndShowTheVip) {
  ASSERT_TRUE(sock_->attach(cgroup_).ok());
  EXPECT_EQ(inChild(childWithHooks), kOk);
  sock_->detach();
  EXPECT_EQ(inChild(childWithoutHooks), kOk) << "translated after detach";
}

TEST_F(SockLbTest, AttachToAMissingCgroupFailsAndLeavesNothingAttached) {
  const auto st = sock_->attach(cgroup_ + "/missing");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("missing"), std::string::npos) << st.error().message();
  EXPECT_FALSE(sock_->attached());
}

}  // namespace
}  // namespace membrane::dataplane::testing
