// SPDX-License-Identifier: Apache-2.0
#include "dataplane/packet.h"

#include <algorithm>

namespace membrane::dataplane {
namespace {

void put16(std::vector<uint8_t>& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}
void put32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
  put16(b, off, static_cast<uint16_t>(v >> 16));
  put16(b, off + 2, static_cast<uint16_t>(v));
}

uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2 != 0) acc += static_cast<uint32_t>(p[n - 1] << 8);
  return acc;
}
uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xFFFF) + (acc >> 16);
  return static_cast<uint16_t>(~acc);
}

// CRC32c for SCTP (RFC 4960 appendix B), bitwise: only test traffic.
uint32_t crc32c(const uint8_t* p, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

}  // namespace

std::vector<uint8_t> buildIpv4(const PacketSpec& s) {
  std::vector<uint8_t> l4;
  switch (s.protocol) {
    case 6: {  // TCP
      l4.assign(20, 0);
      put16(l4, 0, s.sport);
      put16(l4, 2, s.dport);
      put32(l4, 4, 1000);                                     // seq
      put32(l4, 8, (s.tcp_flags & kTcpAck) != 0 ? 2000 : 0);  // ack
      l4[12] = 5 << 4;
      l4[13] = s.tcp_flags;
      put16(l4, 14, 65535);
      break;
    }
    case 17:  // UDP
      l4.assign(8, 0);
      put16(l4, 0, s.sport);
      put16(l4, 2, s.dport);
      break;
    case 132:  // SCTP common header + an INIT-sized chunk header
      l4.assign(16, 0);
      put16(l4, 0, s.sport);
      put16(l4, 2, s.dport);
      put32(l4, 4, 0x01020304);  // verification tag
      l4[12] = 1;                // chunk type INIT
      put16(l4, 14, 4);
      break;
    case 1:  // ICMP
      l4.assign(8, 0);
      l4[0] = s.icmp_type;
      l4[1] = s.icmp_code;
      if (s.icmp_type == 0 || s.icmp_type == 8) {
        put16(l4, 4, s.icmp_id);
        put16(l4, 6, 1);
      }
      break;
    default:
      break;
  }
  l4.insert(l4.end(), s.payload.begin(), s.payload.end());

  std::vector<uint8_t> ip(20, 0);
  ip[0] = 0x45;
  put16(ip, 2, static_cast<uint16_t>(20 + l4.size()));
  put16(ip, 4, 0x1234);
  put16(ip, 6, s.frag_off);
  ip[8] = s.ttl;
  ip[9] = s.protocol;
  put32(ip, 12, s.saddr);
  put32(ip, 16, s.daddr);
  put16(ip, 10, fold(sum16(ip.data(), ip.size())));

  if (s.protocol == 6 || s.protocol == 17) {
    uint32_t acc = sum16(ip.data() + 12, 8);  // pseudo header: addresses, proto, length
    acc += s.protocol + static_cast<uint32_t>(l4.size());
    const size_t csum_off = s.protocol == 6 ? 16 : 6;
    put16(l4, csum_off, fold(sum16(l4.data(), l4.size(), acc)));
  } else if (s.protocol == 1) {
    put16(l4, 2, fold(sum16(l4.data(), l4.size())));
  } else if (s.protocol == 132) {
    const uint32_t crc = crc32c(l4.data(), l4.size());
    // SCTP stores the CRC in little-endian byte order.
    l4[8] = static_cast<uint8_t>(crc);
    l4[9] = static_cast<uint8_t>(crc >> 8);
    l4[10] = static_cast<uint8_t>(crc >> 16);
    l4[11] = static_cast<uint8_t>(crc >> 24);
  }
  ip.insert(ip.end(), l4.begin(), l4.end());
  return ip;
}

namespace {
std::vector<uint8_t> ethHeader(uint16_t ethertype) {
  std::vector<uint8_t> eth = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0, 0};
  put16(eth, 12, ethertype);
  return eth;
}
}  // namespace

std::vector<uint8_t> buildIpv4Frame(const PacketSpec& spec) {
  std::vector<uint8_t> frame = ethHeader(0x0800);
  const std::vector<uint8_t> ip = buildIpv4(spec);
  frame.insert(frame.end(), ip.begin(), ip.end());
  return frame;
}

PacketSpec icmpErrorSpec(uint32_t saddr, uint32_t daddr, uint8_t type, uint8_t code,
                         const std::vector<uint8_t>& quoted) {
  PacketSpec s{.saddr = saddr, .daddr = daddr, .protocol = 1, .icmp_type = type, .icmp_code = code};
  s.payload.assign(quoted.begin(), quoted.begin() + std::min<size_t>(quoted.size(), 28));
  return s;
}

std::vector<uint8_t> buildIpv6Frame() {
  std::vector<uint8_t> frame = ethHeader(0x86DD);
  std::vector<uint8_t> ip6(40 + 8, 0);
  ip6[0] = 0x60;
  put16(ip6, 4, 8);
  ip6[6] = 17;
  ip6[7] = 64;
  ip6[23] = 1;  // ::1 -> ::2
  ip6[39] = 2;
  put16(ip6, 40, 1000);
  put16(ip6, 42, 53);
  put16(ip6, 44, 8);
  frame.insert(frame.end(), ip6.begin(), ip6.end());
  return frame;
}

std::vector<uint8_t> buildArpFrame(uint32_t sender, uint32_t target) {
  std::vector<uint8_t> frame = ethHeader(0x0806);
  std::vector<uint8_t> arp(28, 0);
  put16(arp, 0, 1);
  put16(arp, 2, 0x0800);
  arp[4] = 6;
  arp[5] = 4;
  put16(arp, 6, 1);
  put32(arp, 14, sender);
  put32(arp, 24, target);
  frame.insert(frame.end(), arp.begin(), arp.end());
  return frame;
}

}  // namespace membrane::dataplane
