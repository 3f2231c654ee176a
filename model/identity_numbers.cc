// SPDX-License-Identifier: Apache-2.0
#include "model/identity_numbers.h"

#include <array>
#include <utility>

namespace membrane::model {
namespace {
constexpr std::array<std::pair<IdentityId, std::string_view>, 10> kReserved = {{
    {kIdentityHost, "host"},
    {kIdentityWorld, "world"},
    {kIdentityUnmanaged, "unmanaged"},
    {kIdentityHealth, "health"},
    {kIdentityInit, "init"},
    {kIdentityRemoteNode, "remote-node"},
    {kIdentityKubeApiserver, "kube-apiserver"},
    {kIdentityIngress, "ingress"},
    {kIdentityWorldIpv4, "world-ipv4"},
    {kIdentityWorldIpv6, "world-ipv6"},
}};
}  // namespace

std::string_view reservedIdentityName(IdentityId id) {
  for (const auto& [num, name] : kReserved) {
    if (num == id) return name;
  }
  return {};
}

IdentityId reservedIdentityByName(std::string_view name) {
  for (const auto& [num, n] : kReserved) {
    if (n == name) return num;
  }
  return kIdentityUnknown;
}

}  // namespace membrane::model
