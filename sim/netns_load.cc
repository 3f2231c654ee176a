// SPDX-License-Identifier: Apache-2.0
#include "sim/netns_load.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "dataplane/netns.h"

namespace membrane::sim {
namespace {

using Clock = std::chrono::steady_clock;

int64_t nsSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

// Waits until `fd` is ready for `events` or the deadline passes.
bool waitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{.fd = fd, .events = events, .revents = 0};
    const int rc = poll(&p, 1, static_cast<int>(left));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return false;
  }
}

bool connectBy(int fd, const RequestResponseLoad& l, std::string& why) {
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_addr.s_addr = htonl(l.dst_ip);
  dst.sin_port = htons(l.port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0 && errno != EINPROGRESS) {
    why = std::string("connect: ") + std::strerror(errno);
    return false;
  }
  if (!waitFor(fd, POLLOUT, Clock::now() + std::chrono::milliseconds(l.timeout_ms))) {
    why = "connect: no answer within " + std::to_string(l.timeout_ms) + " ms";
    return false;
  }
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    why = std::string("connect: ") + std::strerror(err);
    return false;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // ns-3 sends at once too
  return true;
}

// One request: sends `req`, reads as many bytes back; false when the deadline passed.
bool exchange(int fd, const std::vector<char>& req, std::vector<char>& buf, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t sent = 0, got = 0;
  while (sent < req.size()) {
    const ssize_t w = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (w > 0) {
      sent += static_cast<size_t>(w);
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
      return false;
    } else if (!waitFor(fd, POLLOUT, deadline)) {
      return false;
    }
  }
  while (got < req.size()) {
    const ssize_t r = recv(fd, buf.data(), buf.size(), 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
    } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
      return false;
    } else if (!waitFor(fd, POLLIN, deadline)) {
      return false;
    }
  }
  return true;
}

FlowStats runOne(const RequestResponseLoad& l, std::string& why) {
  FlowStats st{.index = l.index, .seconds = static_cast<double>(l.duration_s)};
  const uint64_t total = static_cast<uint64_t>(l.rate) * l.duration_s;
  auto fd = dataplane::socketInNetns(l.src_netns, SOCK_STREAM | SOCK_NONBLOCK);
  if (!fd) {
    why = fd.error().message();
    st.sent = total;
    return st;
  }
  if (!connectBy(*fd, l, why)) {
    close(*fd);
    st.sent = total;
    return st;
  }
  std::vector<char> req(std::max<uint32_t>(l.size, 1), 'm'), buf(65536);
  const auto start = Clock::now();
  const int64_t interval_ns = 1000000000LL / std::max<uint32_t>(l.rate, 1);
  for (uint64_t k = 0; k < total; ++k) {
    const int64_t due = static_cast<int64_t>(k) * interval_ns;
    const int64_t now = nsSince(start);
    if (due > now) std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
    ++st.sent;
    const auto t0 = Clock::now();
    if (!exchange(*fd, req, buf, l.timeout_ms)) {
      why = "request " + std::to_string(k + 1) + " unanswered within " +
            std::to_string(l.timeout_ms) + " ms";
      st.sent = total;  // the rest of the item is lost with it
      break;
    }
    st.latency_ns.push_back(static_cast<uint64_t>(nsSince(t0)));
    ++st.delivered;
    st.bytes += 2 * req.size();
  }
  close(*fd);
  std::sort(st.latency_ns.begin(), st.latency_ns.end());
  return st;
}

}  // namespace

std::vector<FlowStats> runRequestResponse(const std::vector<RequestResponseLoad>& loads,
                                          std::vector<std::string>& why) {
  std::vector<FlowStats> out(loads.size());
  why.assign(loads.size(), "");
  std::vector<std::thread> threads;
  for (size_t i = 0; i < loads.size(); ++i) {
    threads.emplace_back([&, i] { out[i] = runOne(loads[i], why[i]); });
  }
  for (auto& t : threads) t.join();
  return out;
}

}  // namespace membrane::sim
