// SPDX-License-Identifier: Apache-2.0
// The connectivity matrix: for every pair of workloads (and external address ranges), the
// set of connections the policy allows. Workloads are represented by their first pod.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "model/engine.h"

namespace membrane::model {

// A set of closed intervals [lo, hi] over 0..max, kept sorted and disjoint.
class IntervalSet {
 public:
  void add(uint32_t lo, uint32_t hi);
  bool contains(uint32_t v) const;
  bool empty() const { return iv_.empty(); }
  bool covers(uint32_t lo, uint32_t hi) const;  // [lo, hi] entirely inside
  IntervalSet intersect(const IntervalSet& o) const;
  IntervalSet minus(const IntervalSet& o) const;
  const std::vector<std::pair<uint32_t, uint32_t>>& intervals() const { return iv_; }
  bool operator==(const IntervalSet&) const = default;

 private:
  std::vector<std::pair<uint32_t, uint32_t>> iv_;
};

// Allowed connections: ports per protocol (TCP, UDP, SCTP) and ICMP types.
struct ConnSet {
  static constexpr std::array<uint8_t, 3> kPortProtocols = {kProtoTCP, kProtoUDP, kProtoSCTP};
  std::array<IntervalSet, 3> ports;  // indexed like kPortProtocols, 0..65535
  IntervalSet icmp;                  // ICMP types 0..255

  static ConnSet all();
  bool isAll() const;
  bool empty() const;
  ConnSet intersect(const ConnSet& o) const;
  ConnSet minus(const ConnSet& o) const;
  // np-guard's text: "All Connections", "TCP 8080", "TCP 10053-10054,UDP 10053" ("No Connections")
  std::string str() const;
  bool operator==(const ConnSet&) const = default;
};

struct ConnPeer {
  bool external = false;
  size_t workload = 0;                      // index into Cluster::workloads when !external
  Ipv4 lo = 0, hi = 0;                      // address range when external
  std::string str(const Cluster& c) const;  // "ns/name[Kind]" or "a.b.c.d-e.f.g.h[External]"
};

struct ConnEntry {
  ConnPeer src;
  ConnPeer dst;
  ConnSet conns;  // plainly allowed (forwarded by the datapath)
  // L7-restricted: an L7 rule decides, no proxy enforces it, the datapath drops them.
  ConnSet l7;
  std::vector<std::string> l7_types;  // "http", "dns", ... of the deciding rules, sorted
  // conns.str(), then "; " and the L7-restricted part as "TCP 80 (L7: http)"; np-guard's text when
  // there is no L7 part.
  std::string str() const;
};

// One side's connections for endpoint `pod` in direction `dir` and `peer`, equal to
// Engine::decide() port by port: `allowed` where decide() says allowed, `l7` where it says
// L7-restricted (with the L7 types of the redirect rules that decide some of them).
struct SideConns {
  ConnSet allowed;
  ConnSet l7;
  std::vector<std::string> l7_types;  // sorted, unique
};
SideConns sideConns(const Engine& engine, size_t pod, Direction dir, IdentityId peer);
// The plainly allowed connections of one side (sideConns(...).allowed).
ConnSet allowedConns(const Engine& engine, size_t pod, Direction dir, IdentityId peer);

// Every non-empty connection between workloads and between workloads and external ranges
// (adjacent ranges with the same connections merged), sorted by source then destination.
std::vector<ConnEntry> computeConnectivity(const Engine& engine);

}  // namespace membrane::model
