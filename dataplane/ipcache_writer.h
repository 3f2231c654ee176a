// SPDX-License-Identifier: Apache-2.0
// ipcache and endpoints map writers. Both apply a desired state as a difference against
// what they last wrote (read back from the kernel on first use, so restarts are idempotent).
//
// ipcache (an LPM trie without precedence) is updated entry by entry in an order that never
// shows a wrong identity for an address whose identity is the same before and after:
// upserts longest prefix first, then deletions shortest prefix first (docs/datapath.md has
// the argument). Endpoint entries are exact keys, independent of each other.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dataplane/abi.h"
#include "dataplane/map.h"
#include "dataplane/result.h"
#include "model/identity_numbers.h"

namespace membrane::dataplane {

struct Ipv4Prefix {
  uint32_t addr = 0;  // host order, masked to len
  uint8_t len = 32;
  auto operator<=>(const Ipv4Prefix&) const = default;
  std::string str() const;
};
// "10.0.0.0/24" or "10.0.0.1" (= /32). Host bits must be zero.
Result<Ipv4Prefix> parseIpv4Prefix(std::string_view text);
Result<uint32_t> parseIpv4(std::string_view text);  // host order
std::string formatIpv4(uint32_t addr);              // host order

struct IpcacheEntry {
  model::IdentityId identity = 0;
  uint32_t tunnel_endpoint = 0;  // host order; 0 = none
  uint8_t encrypt_key = 0;
  uint8_t flags = 0;  // MEMBRANE_IPCACHE_F_*
  bool operator==(const IpcacheEntry&) const = default;
};
using IpcacheState = std::map<Ipv4Prefix, IpcacheEntry>;

struct IpcacheChange {
  std::vector<Ipv4Prefix> upserted;  // in the order written
  std::vector<Ipv4Prefix> removed;   // in the order deleted
  bool empty() const { return upserted.empty() && removed.empty(); }
};

class IpcacheWriter {
 public:
  explicit IpcacheWriter(RawMap& map) : map_(&map) {}
  Result<IpcacheChange> apply(const IpcacheState& desired);
  Result<IpcacheState> readBack() const;

 private:
  RawMap* map_;
  IpcacheState current_;
  bool loaded_ = false;
};

IpcacheKey encodeIpcacheKey(const Ipv4Prefix& prefix);
Ipv4Prefix decodeIpcacheKey(const IpcacheKey& key);

struct EndpointEntry {
  uint16_t endpoint_id = 0;
  model::IdentityId identity = 0;
  uint32_t ifindex = 0;  // host-side veth; 0 = not checked
  uint16_t flags = 0;    // MEMBRANE_ENDPOINT_F_*
  std::array<uint8_t, 6> mac{};
  std::array<uint8_t, 6> node_mac{};
  bool operator==(const EndpointEntry&) const = default;
};
using EndpointState = std::map<uint32_t, EndpointEntry>;  // IPv4 address (host order) -> entry

struct EndpointChange {
  std::vector<uint32_t> upserted;
  std::vector<uint32_t> removed;
  bool empty() const { return upserted.empty() && removed.empty(); }
};

class EndpointWriter {
 public:
  explicit EndpointWriter(RawMap& map) : map_(&map) {}
  Result<EndpointChange> apply(const EndpointState& desired);
  Result<EndpointState> readBack() const;

 private:
  RawMap* map_;
  EndpointState current_;
  bool loaded_ = false;
};

}  // namespace membrane::dataplane
