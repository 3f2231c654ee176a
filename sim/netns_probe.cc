// SPDX-License-Identifier: Apache-2.0
#include "sim/netns_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "dataplane/netns.h"

namespace membrane::sim {
namespace {

constexpr int kKindTcpListen = 1;
constexpr int kKindTcpConn = 2;
constexpr int kKindUdp = 3;
constexpr int kKindSctpRaw = 4;
constexpr uint8_t kProtoSctp = 132;

sockaddr_in addrOf(uint32_t ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip);
  a.sin_port = htons(port);
  return a;
}

uint16_t inetChecksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

uint32_t crc32c(const uint8_t* p, size_t n) {
  uint32_t crc = 0xffffffff;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78 & (0u - (crc & 1)));
  }
  return ~crc;
}

// SCTP common header + INIT chunk (RFC 9260 3.3.2), checksum CRC32c (little-endian on wire).
std::vector<uint8_t> sctpInit(uint16_t sport, uint16_t dport, uint32_t tag) {
  std::vector<uint8_t> b(12 + 20, 0);
  auto put16 = [&](size_t o, uint16_t v) {
    b[o] = static_cast<uint8_t>(v >> 8);
    b[o + 1] = static_cast<uint8_t>(v);
  };
  auto put32 = [&](size_t o, uint32_t v) {
    put16(o, static_cast<uint16_t>(v >> 16));
    put16(o + 2, static_cast<uint16_t>(v));
  };
  put16(0, sport);
  put16(2, dport);
  b[12] = 1;  // INIT
  put16(14, 20);
  put32(16, tag);      // initiate tag
  put32(20, 65536);    // a_rwnd
  put16(24, 1);        // outbound streams
  put16(26, 1);        // inbound streams
  put32(28, tag + 1);  // initial TSN
  const uint32_t crc = crc32c(b.data(), b.size());
  std::memcpy(&b[8], &crc, 4);
  return b;
}

std::atomic<uint16_t> g_icmp_id{0x4d00};

}  // namespace

dataplane::Result<std::unique_ptr<Servers>> Servers::create() {
  std::unique_ptr<Servers> s(new Servers());
  s->epfd_ = epoll_create1(EPOLL_CLOEXEC);
  s->stopfd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->epfd_ < 0 || s->stopfd_ < 0) return dataplane::errnoError(errno, "epoll/eventfd");
  epoll_event ev{.events = EPOLLIN, .data = {.fd = s->stopfd_}};
  epoll_ctl(s->epfd_, EPOLL_CTL_ADD, s->stopfd_, &ev);
  s->thread_ = std::thread([p = s.get()] { p->loop(); });
  return s;
}

Servers::~Servers() {
  uint64_t one = 1;
  if (write(stopfd_, &one, sizeof(one)) < 0) {
    // The loop also ends when the descriptors close below.
  }
  if (thread_.joinable()) thread_.join();
  for (const auto& [fd, kind] : fds_) close(fd);
  close(stopfd_);
  close(epfd_);
}

size_t Servers::openConnections() const { return open_conns_.load(); }

void Servers::add(int fd, int kind, const std::string& netns) {
  std::lock_guard lock(mu_);
  fds_[fd] = {kind, netns};
  epoll_event ev{.events = EPOLLIN, .data = {.fd = fd}};
  epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
}

dataplane::Status Servers::ensure(const std::string& netns, uint8_t protocol, uint16_t port) {
  if (protocol == IPPROTO_ICMP) return {};
  if (protocol == kProtoSctp) port = 0;  // one raw socket per namespace sees every INIT
  {
    std::lock_guard lock(mu_);
    if (!have_.insert({netns, protocol, port}).second) return {};
  }
  int fd = -1, err = 0;
  auto joined = dataplane::runInNetns(netns, [&] {
    const int type = protocol == IPPROTO_TCP   ? SOCK_STREAM
                     : protocol == IPPROTO_UDP ? SOCK_DGRAM
                                               : SOCK_RAW;
    fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, type == SOCK_RAW ? kProtoSctp : 0);
    if (fd < 0) {
      err = errno;
      return;
    }
    if (type == SOCK_RAW) return;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a = addrOf(INADDR_ANY, port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        (type == SOCK_STREAM && listen(fd, 512) != 0)) {
      err = errno;
      close(fd);
      fd = -1;
    }
  });
  if (!joined) return joined;
  if (fd < 0) {
    return dataplane::errnoError(
        err, "server " + std::to_string(protocol) + "/" + std::to_string(port) + " in " + netns);
  }
  add(fd,
      protocol == IPPROTO_TCP   ? kKindTcpListen
      : protocol == IPPROTO_UDP ? kKindUdp
                                : kKindSctpRaw,
      netns);
  return {};
}

bool Servers::sctpSeen(const std::string& netns, uint32_t src, uint16_t sport, uint16_t dport) {
  std::lock_guard lock(mu_);
  return sctp_seen_.count({netns, src, sport, dport}) != 0;
}

void Servers::loop() {
  epoll_event evs[64];
  uint8_t buf[2048];
  for (;;) {
    const int n = epoll_wait(epfd_, evs, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    for (int i = 0; i < n; ++i) {
      const int fd = evs[i].data.fd;
      if (fd == stopfd_) return;
      int kind = 0;
      std::string netns;
      {
        std::lock_guard lock(mu_);
        auto it = fds_.find(fd);
        if (it == fds_.end()) continue;
        kind = it->second.first;
        netns = it->second.second;
      }
      if (kind == kKindTcpListen) {
        for (;;) {
          const int c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          ++open_conns_;
          add(c, kKindTcpConn, netns);
        }
      } else if (kind == kKindTcpConn) {
        const ssize_t r = read(fd, buf, sizeof(buf));
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
          std::lock_guard lock(mu_);
          epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
          fds_.erase(fd);
          close(fd);
          --open_conns_;
        } else if (r > 0) {
          [[maybe_unused]] ssize_t w = write(fd, buf, static_cast<size_t>(r));  // echo
        }
      } else if (kind == kKindUdp) {
        for (;;) {
          sockaddr_in from{};
          socklen_t len = sizeof(from);
          const ssize_t r =
              recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
          if (r < 0) break;
          sendto(fd, buf, static_cast<size_t>(r), 0, reinterpret_cast<sockaddr*>(&from), len);
        }
      } else if (kind == kKindSctpRaw) {
        for (;;) {
          const ssize_t r = recv(fd, buf, sizeof(buf), 0);
          if (r < 0) break;
          const size_t ihl = static_cast<size_t>(buf[0] & 0xf) * 4;
          if (static_cast<size_t>(r) < ihl + 12) continue;
          uint32_t src = 0;
          std::memcpy(&src, buf + 12, 4);
          const uint16_t sport = static_cast<uint16_t>(buf[ihl] << 8 | buf[ihl + 1]);
          const uint16_t dport = static_cast<uint16_t>(buf[ihl + 2] << 8 | buf[ihl + 3]);
          std::lock_guard lock(mu_);
          sctp_seen_.insert({netns, ntohl(src), sport, dport});
        }
      }
    }
  }
}

namespace {

struct Pending {
  ProbeJob* job;
  int fd;
  bool done = false;
};

void openJobSocket(ProbeJob& j, Pending& p) {
  const int type = j.protocol == IPPROTO_TCP   ? SOCK_STREAM
                   : j.protocol == IPPROTO_UDP ? SOCK_DGRAM
                                               : SOCK_RAW;
  const int proto = type != SOCK_RAW ? 0 : j.protocol;
  p.fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (p.fd < 0) {
    j.how = std::string("socket: ") + std::strerror(errno);
    p.done = true;
    return;
  }
  sockaddr_in dst = addrOf(j.dst_ip, j.protocol == IPPROTO_ICMP ? 0 : j.port);
  if (j.protocol == IPPROTO_ICMP) {
    j.sport = g_icmp_id++;
    uint8_t pkt[16] = {ICMP_ECHO, 0, 0, 0};
    pkt[4] = static_cast<uint8_t>(j.sport >> 8);
    pkt[5] = static_cast<uint8_t>(j.sport);
    pkt[7] = 1;
    const uint16_t c = inetChecksum(pkt, sizeof(pkt));
    pkt[2] = static_cast<uint8_t>(c >> 8);
    pkt[3] = static_cast<uint8_t>(c);
    sendto(p.fd, pkt, sizeof(pkt), 0, reinterpret_cast<sockaddr*>(&dst), sizeof(dst));
    return;
  }
  if (j.protocol == kProtoSctp) {
    j.sport = static_cast<uint16_t>(40000 + (g_icmp_id++ % 20000));
    auto init = sctpInit(j.sport, j.port, 0x6d656d00u + j.sport);
    sendto(p.fd, init.data(), init.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof(dst));
    return;
  }
  const int rc = connect(p.fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst));
  if (rc != 0 && errno != EINPROGRESS) {
    j.how = std::string("connect: ") + std::strerror(errno);
    p.done = true;
    return;
  }
  sockaddr_in self{};
  socklen_t len = sizeof(self);
  if (getsockname(p.fd, reinterpret_cast<sockaddr*>(&self), &len) == 0) {
    j.src_ip = ntohl(self.sin_addr.s_addr);
    j.sport = ntohs(self.sin_port);
  }
  if (j.protocol == IPPROTO_UDP) {
    const char msg[] = "membrane-probe";
    send(p.fd, msg, sizeof(msg), 0);
  }
}

// Reads what arrived for `p`; marks it done when it is decided.
void onReady(Pending& p, uint32_t events) {
  ProbeJob& j = *p.job;
  if (j.protocol == IPPROTO_TCP) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == 0 && (events & EPOLLOUT)) {
      j.delivered = true;
      j.how = "TCP connection established";
    } else {
      j.how = std::string("TCP connect: ") + std::strerror(err);
    }
    p.done = true;
  } else if (j.protocol == IPPROTO_UDP) {
    char b[64];
    const ssize_t r = recv(p.fd, b, sizeof(b), 0);
    if (r > 0) {
      j.delivered = true;
      j.how = "UDP reply received";
    } else {
      j.how = std::string("UDP: ") + std::strerror(errno);
    }
    p.done = r > 0 || errno != EAGAIN;
  } else if (j.protocol == IPPROTO_ICMP) {
    uint8_t b[256];
    for (;;) {
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      const ssize_t r = recvfrom(p.fd, b, sizeof(b), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (r < 0) break;
      const size_t ihl = static_cast<size_t>(b[0] & 0xf) * 4;
      if (static_cast<size_t>(r) < ihl + 8 || ntohl(from.sin_addr.s_addr) != j.dst_ip) continue;
      const uint16_t id = static_cast<uint16_t>(b[ihl + 4] << 8 | b[ihl + 5]);
      if (b[ihl] == ICMP_ECHOREPLY && id == j.sport) {
        j.delivered = true;
        j.how = "ICMP echo reply received";
        p.done = true;
        return;
      }
    }
  }
}

void runWave(std::vector<ProbeJob*>& wave, Servers& servers, int timeout_ms,
             const ProbeHooks* hooks) {
  std::vector<Pending> pend;
  pend.reserve(wave.size());
  for (ProbeJob* j : wave) pend.push_back({.job = j, .fd = -1});
  // Sockets are created inside their namespace, one thread per namespace.
  std::map<std::string, std::vector<Pending*>> by_ns;
  for (auto& p : pend) by_ns[p.job->src_netns].push_back(&p);
  for (auto& [ns, list] : by_ns) {
    auto s = dataplane::runInNetns(ns, [&] {
      for (Pending* p : list) openJobSocket(*p->job, *p);
    });
    if (!s) {
      for (Pending* p : list) {
        p->job->how = s.error().message();
        p->done = true;
      }
    }
  }
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  for (size_t i = 0; i < pend.size(); ++i) {
    if (pend[i].done || pend[i].job->protocol == kProtoSctp) continue;
    epoll_event ev{.events = EPOLLIN | EPOLLOUT | EPOLLERR, .data = {.u64 = i}};
    if (pend[i].job->protocol != IPPROTO_TCP) ev.events = EPOLLIN | EPOLLERR;
    epoll_ctl(ep, EPOLL_CTL_ADD, pend[i].fd, &ev);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  epoll_event evs[128];
  for (;;) {
    bool open = false;
    for (const auto& p : pend) open |= !p.done && p.job->protocol != kProtoSctp;
    if (!open) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) break;
    const int wait_ms =
        hooks != nullptr ? std::min<int>(static_cast<int>(left), 10) : static_cast<int>(left);
    const int n = epoll_wait(ep, evs, 128, wait_ms);
    for (int i = 0; i < n; ++i) {
      Pending& p = pend[evs[i].data.u64];
      if (p.done) continue;
      onReady(p, evs[i].events);
      if (p.done) epoll_ctl(ep, EPOLL_CTL_DEL, p.fd, nullptr);
    }
    if (hooks == nullptr) continue;
    hooks->refresh();
    for (auto& p : pend) {
      if (p.done || p.job->protocol == kProtoSctp || !hooks->dropped(*p.job)) continue;
      p.done = true;
      p.job->how = "dropped by policy (the datapath's drop event ended the probe)";
      epoll_ctl(ep, EPOLL_CTL_DEL, p.fd, nullptr);
    }
  }
  close(ep);
  bool sctp = false;
  for (const auto& p : pend) sctp |= p.job->protocol == kProtoSctp;
  if (sctp) usleep(static_cast<useconds_t>(std::min(timeout_ms, 300)) * 1000);
  for (auto& p : pend) {
    ProbeJob& j = *p.job;
    if (j.protocol == kProtoSctp && p.fd >= 0) {
      j.delivered = servers.sctpSeen(j.dst_netns, j.src_ip, j.sport, j.port);
      j.how = j.delivered ? "SCTP INIT reached the destination pod's interface (raw socket; "
                            "no SCTP sockets in this kernel)"
                          : "SCTP INIT did not reach the destination pod's interface";
    } else if (!p.done && j.how.empty()) {
      j.how = "no answer within " + std::to_string(timeout_ms) + " ms";
    }
    if (p.fd >= 0) close(p.fd);
  }
}

}  // namespace

void runProbes(std::vector<ProbeJob>& jobs, Servers& servers, int timeout_ms,
               const ProbeHooks* hooks) {
  constexpr size_t kWave = 512;
  for (size_t start = 0; start < jobs.size(); start += kWave) {
    std::vector<ProbeJob*> wave;
    for (size_t i = start; i < std::min(jobs.size(), start + kWave); ++i) wave.push_back(&jobs[i]);
    runWave(wave, servers, timeout_ms, hooks);
  }
}

int connectTcp(const std::string& src_netns, uint32_t ip, uint16_t port, int timeout_ms) {
  int fd = -1;
  auto s = dataplane::runInNetns(
      src_netns, [&] { fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); });
  if (!s || fd < 0) return -1;
  sockaddr_in dst = addrOf(ip, port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  pollfd pfd{.fd = fd, .events = POLLOUT};
  int err = 0;
  socklen_t len = sizeof(err);
  if (poll(&pfd, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
      err != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace membrane::sim
