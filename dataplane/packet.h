// SPDX-License-Identifier: Apache-2.0
// Builds real Ethernet/IPv4/L4 frames (valid checksums) for BPF_PROG_TEST_RUN: tests, the
// simulator's bpf backend and benchmarks use the same bytes the wire would carry.
#pragma once

#include <cstdint>
#include <vector>

namespace membrane::dataplane {

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;

inline constexpr uint32_t ipv4Addr(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

struct PacketSpec {
  uint32_t saddr = 0;  // host order
  uint32_t daddr = 0;  // host order
  uint8_t protocol = 6;
  uint16_t sport = 0;  // host order (TCP/UDP/SCTP)
  uint16_t dport = 0;
  uint8_t tcp_flags = kTcpSyn;
  uint8_t icmp_type = 8;  // echo request
  uint8_t icmp_code = 0;
  uint16_t icmp_id = 0;   // echo identifier
  uint16_t frag_off = 0;  // host order, flags + offset field
  uint8_t ttl = 64;
  std::vector<uint8_t> payload;  // after the L4 header; ICMP errors: the quoted packet
};

// IPv4 packet without the Ethernet header.
std::vector<uint8_t> buildIpv4(const PacketSpec& spec);
// Ethernet + IPv4.
std::vector<uint8_t> buildIpv4Frame(const PacketSpec& spec);
// An ICMP error (type/code) quoting the first 28 bytes of `quoted` (an IPv4 packet).
PacketSpec icmpErrorSpec(uint32_t saddr, uint32_t daddr, uint8_t type, uint8_t code,
                         const std::vector<uint8_t>& quoted);
// Ethernet + minimal IPv6/UDP, and an ARP request: for the non-IPv4 paths.
std::vector<uint8_t> buildIpv6Frame();
std::vector<uint8_t> buildArpFrame(uint32_t sender, uint32_t target);

}  // namespace membrane::dataplane
