// SPDX-License-Identifier: Apache-2.0
// ProxySupervisor with the real membrane-proxy binary on loopback: started, listening,
// killed -> reported down (no proxy port entry) and restarted, stopped on destruction.
#include "agent/proxy_supervisor.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

namespace membrane::agent {
namespace {

// Polls reconcile() until `want` holds; bounded so a broken proxy fails instead of hanging.
template <typename Pred>
bool reconcileUntil(ProxySupervisor& s, Pred want) {
  for (int i = 0; i < 1000; ++i) {
    s.reconcile();
    if (want()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::string get(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  const std::string req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  (void)!::write(fd, req.data(), req.size());
  std::string out;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

TEST(ProxySupervisor, StartsRestartsAndReportsListening) {
  char tmpl[] = "/tmp/membrane-proxy-sup-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  pid_t last_pid = 0;
  {
    ProxySupervisor s({.binary = MEMBRANE_PROXY_BIN,
                       .state_dir = dir,
                       .port = 0,
                       .extra_args = {"--no-transparent", "--listen", "127.0.0.1"},
                       .restart_backoff = std::chrono::milliseconds(50)});
    std::string err;
    ASSERT_TRUE(s.writeRules(R"({"version": 1, "entries": []})", &err)) << err;
    EXPECT_TRUE(proxyPortState(s).empty()) << "nothing is listening yet";
    ASSERT_TRUE(reconcileUntil(s, [&] { return s.listening(); }));
    const auto st = proxyPortState(s);
    ASSERT_EQ(st.size(), 1u);
    EXPECT_TRUE(st.begin()->second.listening);
    EXPECT_NE(get(s.port()).find("403 Forbidden"), std::string::npos) << "a real proxy answers";

    const pid_t first = s.pid();
    ASSERT_EQ(::kill(first, SIGKILL), 0);
    ASSERT_TRUE(reconcileUntil(s, [&] { return !s.listening(); }));
    EXPECT_TRUE(proxyPortState(s).empty()) << "a dead proxy must not keep its port entry";
    ASSERT_TRUE(reconcileUntil(s, [&] { return s.listening(); }));
    EXPECT_NE(s.pid(), first);
    EXPECT_EQ(s.restarts(), 1u);
    EXPECT_NE(get(s.port()).find("403 Forbidden"), std::string::npos);
    last_pid = s.pid();
  }
  EXPECT_NE(::kill(last_pid, 0), 0) << "the destructor stops the proxy";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace membrane::agent
