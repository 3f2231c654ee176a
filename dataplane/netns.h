// SPDX-License-Identifier: Apache-2.0
// Network namespaces for tests, benchmarks and the simulator: two namespaces joined by a
// veth pair, created with iproute2 and deleted on destruction (also when a test fails).
// Names carry a caller-chosen unique prefix; nothing is connected to the host's interfaces.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "dataplane/result.h"

namespace membrane::dataplane {

// Runs `fn` on a thread that joined /run/netns/<ns>; the caller's namespace is untouched.
// Sockets created inside stay in that namespace wherever they are used afterwards.
Status runInNetns(const std::string& ns, const std::function<void()>& fn);

// socket(AF_INET, type) inside namespace `ns`.
Result<int> socketInNetns(const std::string& ns, int type);

struct VethPairSpec {
  std::string prefix;   // e.g. "mbt1234-"; netns <prefix>a / <prefix>b, devices <prefix>a/b
  uint32_t addr_a = 0;  // host order, on the device in namespace a
  uint32_t addr_b = 0;  // host order, on the device in namespace b
  uint8_t prefix_len = 24;
  bool disable_ipv6 = true;
};

class VethPair {
 public:
  static Result<std::unique_ptr<VethPair>> create(const VethPairSpec& spec);
  ~VethPair();
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;

  const std::string& nsA() const { return ns_a_; }
  const std::string& nsB() const { return ns_b_; }
  const std::string& devA() const { return dev_a_; }
  const std::string& devB() const { return dev_b_; }
  int ifindexA() const { return ifindex_a_; }  // inside nsA
  int ifindexB() const { return ifindex_b_; }  // inside nsB

 private:
  VethPair() = default;
  std::string ns_a_, ns_b_, dev_a_, dev_b_;
  int ifindex_a_ = 0, ifindex_b_ = 0;
};

// Runs a shell command (iproute2, iptables) quietly; returns its exit status.
int runQuiet(const std::string& command);

}  // namespace membrane::dataplane
