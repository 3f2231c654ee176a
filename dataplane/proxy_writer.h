// SPDX-License-Identifier: Apache-2.0
// Proxy ports writer: which L7 proxy ports have a listening proxy (membrane_proxy_ports).
// The datapath drops a packet the policy redirects to a port without a listening entry
// (drop reason PROXY_LOOKUP_FAILED), so this map is empty until a proxy registers: L7 rules
// fail closed. Applies a desired state as a difference against what it last wrote, read back
// from the map on first use (restarts are idempotent), like the ipcache and endpoint writers.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "dataplane/abi.h"
#include "dataplane/map.h"
#include "dataplane/result.h"

namespace membrane::dataplane {

struct ProxyPortEntry {
  uint32_t ifindex = 0;    // where the proxy listens; 0 = the node's own stack
  bool listening = false;  // false: registered but not accepting yet (still dropped)
  bool operator==(const ProxyPortEntry&) const = default;
};
using ProxyPortState = std::map<uint16_t, ProxyPortEntry>;  // proxy port (host order) -> entry

struct ProxyPortChange {
  std::vector<uint16_t> upserted;
  std::vector<uint16_t> removed;
  bool empty() const { return upserted.empty() && removed.empty(); }
};

class ProxyPortWriter {
 public:
  explicit ProxyPortWriter(RawMap& map) : map_(&map) {}
  // Port 0 is rejected: a policy entry with proxy port 0 is not a redirect.
  Result<ProxyPortChange> apply(const ProxyPortState& desired);
  Result<ProxyPortState> readBack() const;

 private:
  RawMap* map_;
  ProxyPortState current_;
  bool loaded_ = false;
};

ProxyKey encodeProxyKey(uint16_t port);
ProxyInfo encodeProxyInfo(const ProxyPortEntry& e);
ProxyPortEntry decodeProxyInfo(const ProxyInfo& info);

}  // namespace membrane::dataplane
