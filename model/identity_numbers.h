// SPDX-License-Identifier: Apache-2.0
// Numeric security identities: reserved values and the layout of allocated ones.
// Numbers follow Cilium (pkg/identity/numericidentity.go) so flows read the same.
#pragma once

#include <cstdint>
#include <string_view>

namespace membrane::model {

using IdentityId = uint32_t;

// Reserved identities (never allocated).
inline constexpr IdentityId kIdentityUnknown = 0;  // also "any peer" in policy keys
inline constexpr IdentityId kIdentityHost = 1;
inline constexpr IdentityId kIdentityWorld = 2;
inline constexpr IdentityId kIdentityUnmanaged = 3;
inline constexpr IdentityId kIdentityHealth = 4;
inline constexpr IdentityId kIdentityInit = 5;
inline constexpr IdentityId kIdentityRemoteNode = 6;
inline constexpr IdentityId kIdentityKubeApiserver = 7;
inline constexpr IdentityId kIdentityIngress = 8;
inline constexpr IdentityId kIdentityWorldIpv4 = 9;
inline constexpr IdentityId kIdentityWorldIpv6 = 10;

// Cluster-wide identities: bits 0-15 local id (from 256), bits 16-23 the cluster id.
inline constexpr IdentityId kMinimalAllocatedIdentity = 256;
inline constexpr IdentityId kMaxLocalIdPerCluster = 0xFFFF;
inline constexpr unsigned kClusterIdShift = 16;
inline constexpr uint32_t kMaxClusterId = 255;
// Node-local identities (CIDR prefixes) carry scope 0x01 in bits 24-31.
inline constexpr IdentityId kLocalIdentityScope = 0x01000000;

// Name of a reserved identity ("host", "world", ...), or empty when `id` is not reserved.
std::string_view reservedIdentityName(IdentityId id);
// Reserved identity by name; kIdentityUnknown when the name is unknown.
IdentityId reservedIdentityByName(std::string_view name);

inline constexpr bool isReservedIdentity(IdentityId id) { return id > 0 && id < 256; }
inline constexpr bool isLocalScopeIdentity(IdentityId id) { return (id >> 24) == 0x01; }
inline constexpr uint32_t clusterIdOf(IdentityId id) {
  return isLocalScopeIdentity(id) ? 0 : (id >> kClusterIdShift) & kMaxClusterId;
}

}  // namespace membrane::model
