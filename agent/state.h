// SPDX-License-Identifier: Apache-2.0
// The agent's state directory: files written atomically (a side file, fsync, rename), so a
// crash leaves the old or the new content, never a torn one. IPAM and the endpoint store
// persist through it.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "dataplane/result.h"

namespace membrane::agent {

using dataplane::Error;
using dataplane::Result;
using dataplane::Status;

// Writes `text` to `path` through `path`.tmp + fsync + rename.
Status writeFileAtomic(const std::string& path, const std::string& text);
// nullopt when the file does not exist; an error when it cannot be read.
Result<std::optional<std::string>> readFileIfExists(const std::string& path);

// IPAM over one pod CIDR. The network, the broadcast address and the first host address
// (.1: the node's side, reserved like Cilium's router IP) are never handed out. Every
// change is persisted before it is used, so no address is handed out twice across
// restarts.
class Ipam {
 public:
  // Loads `path` (absent = empty pool). An address recorded outside the CIDR is an error
  // unless `outside_ok`: then a requested address outside the CIDR is leased too.
  static Result<Ipam> open(const std::string& path, uint32_t cidr, uint8_t len,
                           bool outside_ok = false);

  // `owner` ("containerId/ifname") gets `requested` (0 = the next free one). An owner that
  // already holds an address gets it again. ENOSPC when the pool is exhausted, EADDRINUSE
  // when `requested` belongs to another owner, EINVAL when it is outside the pool (and not
  // allowed outside it).
  Result<uint32_t> allocate(const std::string& owner, uint32_t requested = 0);
  Status release(const std::string& owner);
  std::optional<uint32_t> addressOf(const std::string& owner) const;
  size_t allocated() const { return by_ip_.size(); }
  size_t capacity() const;
  size_t available() const;  // free addresses of the pool (leases outside it do not count)
  const std::map<uint32_t, std::string>& leases() const { return by_ip_; }

 private:
  Ipam() = default;
  Status save() const;
  bool usable(uint32_t ip) const;
  bool requestable(uint32_t ip) const;

  std::string path_;
  uint32_t cidr_ = 0;
  uint8_t len_ = 0;
  bool outside_ok_ = false;
  uint32_t next_ = 0;  // where the next search starts: addresses are not reused at once
  std::map<uint32_t, std::string> by_ip_;
};

}  // namespace membrane::agent
