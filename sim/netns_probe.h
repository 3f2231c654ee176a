// SPDX-License-Identifier: Apache-2.0
// Real traffic between namespaces: small servers (TCP accept, UDP echo; ICMP echo is the
// kernel's) and probes run in parallel with a deadline. SCTP has no sockets in this kernel:
// a raw SCTP INIT is sent and counted as delivered when a raw socket in the destination
// namespace sees it arrive on the pod's interface.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "dataplane/result.h"

namespace membrane::sim {

class Servers {
 public:
  static dataplane::Result<std::unique_ptr<Servers>> create();
  ~Servers();
  Servers(const Servers&) = delete;
  Servers& operator=(const Servers&) = delete;

  // A server for (protocol, port) in `netns` (idempotent). ICMP needs none.
  dataplane::Status ensure(const std::string& netns, uint8_t protocol, uint16_t port);
  // SCTP INITs seen per namespace: (source, destination port).
  bool sctpSeen(const std::string& netns, uint32_t src, uint16_t sport, uint16_t dport);
  // Open accepted TCP connections (kept until the peer closes).
  size_t openConnections() const;

 private:
  Servers() = default;
  void loop();
  void add(int fd, int kind, const std::string& netns);

  int epfd_ = -1;
  int stopfd_ = -1;
  std::thread thread_;
  mutable std::mutex mu_;
  std::map<int, std::pair<int, std::string>> fds_;  // fd -> (kind, netns)
  std::set<std::tuple<std::string, uint8_t, uint16_t>> have_;
  std::set<std::tuple<std::string, uint32_t, uint16_t, uint16_t>> sctp_seen_;
  std::atomic<size_t> open_conns_{0};
};

struct ProbeJob {
  std::string src_netns;
  std::string dst_netns;  // SCTP: where the INIT must arrive
  uint32_t dst_ip = 0;    // host order
  uint8_t protocol = 6;
  uint16_t port = 0;
  // Results.
  bool delivered = false;
  uint32_t src_ip = 0;  // as bound by the kernel (host order), 0 when unknown
  uint16_t sport = 0;   // TCP/UDP/SCTP source port, ICMP echo id
  std::string how;
};

// Ends probes early: `refresh` is called every few milliseconds while probes are open,
// then `dropped(job)` says whether the datapath reported a policy drop of the job's first
// packet (a decision that retransmissions cannot change).
struct ProbeHooks {
  std::function<void()> refresh;
  std::function<bool(const ProbeJob&)> dropped;
};

// Runs every job at once (waves of at most 512 sockets) and waits up to timeout_ms per wave.
void runProbes(std::vector<ProbeJob>& jobs, Servers& servers, int timeout_ms,
               const ProbeHooks* hooks = nullptr);

// A connected TCP socket from `src_netns` to ip:port within timeout_ms; -1 on failure.
int connectTcp(const std::string& src_netns, uint32_t ip, uint16_t port, int timeout_ms);

}  // namespace membrane::sim
