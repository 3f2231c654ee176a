// SPDX-License-Identifier: Apache-2.0
// IPv4 addresses (host byte order) and prefixes.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

namespace membrane::model {

using Ipv4 = uint32_t;  // host byte order

struct Cidr {
  Ipv4 addr = 0;  // network address (host bits cleared)
  uint8_t len = 0;
  bool ipv6 = false;  // IPv6 prefixes are kept but match no IPv4 address
  std::string text;   // as written, for IPv6 and messages
  bool contains(Ipv4 ip) const;
  bool containsCidr(const Cidr& other) const;  // other is inside this
  Ipv4 first() const { return addr; }
  Ipv4 last() const;
  std::string str() const;
  auto operator<=>(const Cidr& o) const {
    return std::tie(ipv6, addr, len, text) <=> std::tie(o.ipv6, o.addr, o.len, o.text);
  }
  bool operator==(const Cidr& o) const = default;
};

std::optional<Ipv4> parseIpv4(std::string_view s);
// Accepts "a.b.c.d/n" and a bare address (/32); IPv6 text yields a Cidr with ipv6=true.
std::optional<Cidr> parseCidr(std::string_view s, std::string* why);
std::string formatIpv4(Ipv4 ip);

}  // namespace membrane::model
