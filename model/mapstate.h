// SPDX-License-Identifier: Apache-2.0
// The compiled policy of one endpoint: exactly the logical entries its BPF policy map
// holds. model/ does not know the kernel ABI; dataplane/ encodes these entries into the
// structs of bpf/include/policy.h. Layout and lookup follow Cilium's LPM policy map:
// key {identity, direction, protocol, port prefix}, value {verdict, proxy port,
// precedence}; a lookup with the exact identity and one with identity 0 ("any peer"),
// the higher precedence wins, deny (0xFFFFFFFF) beats everything.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "model/identity_numbers.h"

namespace membrane::model {

enum class Direction : uint8_t { Ingress = 0, Egress = 1 };
std::string_view directionName(Direction d);

// IANA protocol numbers used in keys; 0 = any protocol.
inline constexpr uint8_t kProtoAny = 0;
inline constexpr uint8_t kProtoICMP = 1;
inline constexpr uint8_t kProtoTCP = 6;
inline constexpr uint8_t kProtoUDP = 17;
inline constexpr uint8_t kProtoSCTP = 132;
std::string_view protocolName(uint8_t proto);

// Prefix length over {protocol (8 bits), port (16 bits)}: 0 = any protocol and port,
// 8 = protocol only, 8 + k = the first k bits of the port (24 = exact port).
inline constexpr uint8_t kPrefixProtoOnly = 8;
inline constexpr uint8_t kPrefixFull = 24;

// Precedence: higher wins. Same values as Cilium for priority 0 (pkg/policy/types).
inline constexpr uint32_t kPrecedenceDeny = 0xFFFFFFFFu;
inline constexpr uint32_t kPrecedenceRedirectBase = 0xFFFFFF00u;  // | (255 - listener prio)
inline constexpr uint32_t kPrecedenceAllow = 0xFFFFFF01u;

enum class EntryVerdict : uint8_t { Allow = 0, Deny = 1, Redirect = 2 };
std::string_view entryVerdictName(EntryVerdict v);

struct MapKey {
  IdentityId identity = 0;  // peer identity; 0 = any
  Direction direction = Direction::Ingress;
  uint8_t protocol = 0;    // host order; 0 only with prefix_len 0
  uint16_t port = 0;       // host order; ICMP: the ICMP type; masked to prefix_len
  uint8_t prefix_len = 0;  // see kPrefix*
  auto operator<=>(const MapKey&) const = default;
};

struct MapValue {
  EntryVerdict verdict = EntryVerdict::Allow;
  uint16_t proxy_port = 0;  // non-zero for Redirect
  uint32_t precedence = kPrecedenceAllow;
  uint32_t cookie = 0;  // index+1 of the deciding rule in the PolicyRepository; 0 = synthetic
  bool operator==(const MapValue&) const = default;
};

struct MapState {
  std::map<MapKey, MapValue> entries;
  bool ingress_enforced = false;  // informational: default deny active on ingress
  bool egress_enforced = false;
};

// Whether `key` (a prefix over proto/port) covers the concrete protocol and port.
bool keyCovers(const MapKey& key, uint8_t proto, uint16_t port);

struct MapLookup {
  bool found = false;  // false: no entry, the datapath drops with "policy denied" (default deny)
  MapKey key;
  MapValue value;
};

// The datapath's lookup (bpf/lib/policy.h): LPM with the exact identity, then with
// identity 0, the higher precedence wins, ties go to the longer prefix.
MapLookup lookupMapState(const MapState& state, IdentityId peer, Direction dir, uint8_t proto,
                         uint16_t port);

}  // namespace membrane::model
