// SPDX-License-Identifier: Apache-2.0
#include "model/mapstate.h"

namespace membrane::model {

std::string_view directionName(Direction d) {
  return d == Direction::Ingress ? "ingress" : "egress";
}

std::string_view protocolName(uint8_t proto) {
  switch (proto) {
    case kProtoAny:
      return "ANY";
    case kProtoICMP:
      return "ICMP";
    case kProtoTCP:
      return "TCP";
    case kProtoUDP:
      return "UDP";
    case kProtoSCTP:
      return "SCTP";
    default:
      return "OTHER";
  }
}

std::string_view entryVerdictName(EntryVerdict v) {
  switch (v) {
    case EntryVerdict::Allow:
      return "allow";
    case EntryVerdict::Deny:
      return "deny";
    case EntryVerdict::Redirect:
      return "redirect";
  }
  return "?";
}

bool keyCovers(const MapKey& key, uint8_t proto, uint16_t port) {
  if (key.prefix_len == 0) return true;
  if (key.protocol != proto) return false;
  if (key.prefix_len <= kPrefixProtoOnly) return true;
  const unsigned bits = key.prefix_len - kPrefixProtoOnly;  // 1..16
  const uint16_t mask = static_cast<uint16_t>(0xFFFFu << (16 - bits));
  return (port & mask) == (key.port & mask);
}

namespace {
// Longest-prefix match among the entries of one identity and direction.
const std::pair<const MapKey, MapValue>* lpm(const MapState& state, IdentityId id, Direction dir,
                                             uint8_t proto, uint16_t port) {
  const std::pair<const MapKey, MapValue>* best = nullptr;
  MapKey lo{.identity = id, .direction = dir, .protocol = 0, .port = 0, .prefix_len = 0};
  for (auto it = state.entries.lower_bound(lo);
       it != state.entries.end() && it->first.identity == id && it->first.direction == dir; ++it) {
    if (!keyCovers(it->first, proto, port)) continue;
    if (best == nullptr || it->first.prefix_len > best->first.prefix_len) best = &*it;
  }
  return best;
}
}  // namespace

MapLookup lookupMapState(const MapState& state, IdentityId peer, Direction dir, uint8_t proto,
                         uint16_t port) {
  const auto* l3 = lpm(state, peer, dir, proto, port);
  if (l3 != nullptr && l3->second.precedence == kPrecedenceDeny) {
    return {.found = true, .key = l3->first, .value = l3->second};
  }
  const auto* l4 = peer == 0 ? nullptr : lpm(state, 0, dir, proto, port);
  const std::pair<const MapKey, MapValue>* chosen = l3;
  if (l4 != nullptr && (l3 == nullptr || l4->second.precedence > l3->second.precedence ||
                        (l4->second.precedence == l3->second.precedence &&
                         l4->first.prefix_len > l3->first.prefix_len))) {
    chosen = l4;
  }
  if (chosen == nullptr) return {};
  return {.found = true, .key = chosen->first, .value = chosen->second};
}

}  // namespace membrane::model
