// SPDX-License-Identifier: Apache-2.0
// The underlay of a scenario (scenario.yaml `underlay`, docs/scenarios.md "Underlay"): the
// links between the nodes with their bandwidth, delay, queue and MTU, as a generator (single
// switch, leaf-spine, two zones) or explicit links. Only the ns3 backend uses it; the
// other backends ignore it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/diagnostics.h"

namespace YAML {
class Node;
}
namespace membrane::model {
class YamlCtx;
}

namespace membrane::sim {

struct LinkSpec {
  uint64_t bandwidth_bps = 0;
  uint64_t delay_ns = 0;
  uint32_t queue_packets = 100;
  uint32_t mtu = 1500;
  model::SourceLoc loc;
};

// An explicit link between two vertices: node names or switch names (any other name).
struct UnderlayLink {
  std::string from;
  std::string to;
  LinkSpec link;
};

enum class UnderlayShape { SingleSwitch, LeafSpine, TwoZones, Links };

struct UnderlaySpec {
  UnderlayShape shape = UnderlayShape::SingleSwitch;
  LinkSpec link;       // node <-> switch (every shape but links)
  LinkSpec uplink;     // leaf-spine: leaf <-> spine (default: link)
  LinkSpec interzone;  // two-zones: the link joining the zones' switches
  uint32_t racks = 2;  // leaf-spine
  uint32_t spines = 2;
  std::vector<UnderlayLink> links;  // shape links
  model::SourceLoc loc;
};

// The default when scenario.yaml has no underlay: one switch, 10 Gbit/s, 5 us links.
UnderlaySpec defaultUnderlay();

// Parses scenario.yaml's `underlay` map (errors into ctx's diagnostics).
std::optional<UnderlaySpec> parseUnderlay(const model::YamlCtx& ctx, const YAML::Node& n);

// "10Gbps" / "100Mbps" / "500Kbps" / "1000bps"; "5us" / "2ms" / "100ns" / "1s".
std::optional<uint64_t> parseBandwidth(const std::string& s);
std::optional<uint64_t> parseDuration(const std::string& s);

}  // namespace membrane::sim
