// SPDX-License-Identifier: Apache-2.0
#include "model/ip.h"

#include <charconv>

namespace membrane::model {

bool Cidr::contains(Ipv4 ip) const {
  if (ipv6) return false;
  if (len == 0) return true;
  const Ipv4 mask = len >= 32 ? 0xFFFFFFFFu : ~(0xFFFFFFFFu >> len);
  return (ip & mask) == addr;
}

bool Cidr::containsCidr(const Cidr& o) const {
  if (ipv6 || o.ipv6) return ipv6 && o.ipv6 && text == o.text;
  return o.len >= len && contains(o.addr);
}

Ipv4 Cidr::last() const {
  if (len == 0) return 0xFFFFFFFFu;
  return addr | (len >= 32 ? 0u : (0xFFFFFFFFu >> len));
}

std::string Cidr::str() const {
  if (ipv6) return text;
  return formatIpv4(addr) + "/" + std::to_string(len);
}

std::optional<Ipv4> parseIpv4(std::string_view s) {
  Ipv4 out = 0;
  for (int i = 0; i < 4; ++i) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || v > 255 || p == s.data()) return std::nullopt;
    if (p - s.data() > 1 && s[0] == '0') return std::nullopt;  // no leading zeros
    out = (out << 8) | v;
    s.remove_prefix(p - s.data());
    if (i < 3) {
      if (s.empty() || s[0] != '.') return std::nullopt;
      s.remove_prefix(1);
    }
  }
  if (!s.empty()) return std::nullopt;
  return out;
}

std::optional<Cidr> parseCidr(std::string_view s, std::string* why) {
  auto slash = s.find('/');
  std::string_view a = s.substr(0, slash);
  unsigned len = 32;
  if (a.find(':') != std::string_view::npos) {
    Cidr c;
    c.ipv6 = true;
    c.text = std::string(s);
    return c;
  }
  if (slash != std::string_view::npos) {
    auto l = s.substr(slash + 1);
    auto [p, ec] = std::from_chars(l.data(), l.data() + l.size(), len);
    if (ec != std::errc() || p != l.data() + l.size() || len > 32 || l.empty()) {
      if (why) *why = "\"" + std::string(s) + "\" has an invalid prefix length (expected 0-32)";
      return std::nullopt;
    }
  }
  auto ip = parseIpv4(a);
  if (!ip) {
    if (why) *why = "\"" + std::string(s) + "\" is not an IPv4 address or CIDR";
    return std::nullopt;
  }
  Cidr c;
  c.len = static_cast<uint8_t>(len);
  const Ipv4 mask = len == 0 ? 0 : (len >= 32 ? 0xFFFFFFFFu : ~(0xFFFFFFFFu >> len));
  c.addr = *ip & mask;
  c.text = std::string(s);
  return c;
}

std::string formatIpv4(Ipv4 ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) + "." +
         std::to_string((ip >> 8) & 255) + "." + std::to_string(ip & 255);
}

}  // namespace membrane::model
