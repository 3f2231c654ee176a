// SPDX-License-Identifier: Apache-2.0
#include "dataplane/ipcache_writer.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace membrane::dataplane {

std::string formatIpv4(uint32_t addr) {
  return std::to_string(addr >> 24) + "." + std::to_string((addr >> 16) & 0xFF) + "." +
         std::to_string((addr >> 8) & 0xFF) + "." + std::to_string(addr & 0xFF);
}

std::string Ipv4Prefix::str() const { return formatIpv4(addr) + "/" + std::to_string(len); }

Result<uint32_t> parseIpv4(std::string_view text) {
  in_addr a{};
  const std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) {
    return Error{.code = EINVAL, .context = "'" + s + "': expected an IPv4 address"};
  }
  return ntohl(a.s_addr);
}

Result<Ipv4Prefix> parseIpv4Prefix(std::string_view text) {
  Ipv4Prefix out;
  const auto slash = text.find('/');
  auto addr = parseIpv4(text.substr(0, slash));
  if (!addr) return addr.error();
  out.addr = *addr;
  if (slash != std::string_view::npos) {
    const auto len = text.substr(slash + 1);
    unsigned v = 0;
    auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), v);
    if (ec != std::errc() || p != len.data() + len.size() || v > 32) {
      return Error{.code = EINVAL,
                   .context = "'" + std::string(text) + "': expected a prefix length 0..32"};
    }
    out.len = static_cast<uint8_t>(v);
  }
  const uint32_t mask = out.len == 0 ? 0 : ~0u << (32 - out.len);
  if ((out.addr & ~mask) != 0) {
    return Error{.code = EINVAL,
                 .context = "'" + std::string(text) + "': host bits set beyond the prefix"};
  }
  return out;
}

IpcacheKey encodeIpcacheKey(const Ipv4Prefix& prefix) {
  IpcacheKey key{};
  key.prefixlen = MEMBRANE_IPCACHE_BASE_PREFIX + prefix.len;
  key.family = MEMBRANE_FAMILY_IPV4;
  key.ip4 = htonl(prefix.addr);
  return key;
}

Ipv4Prefix decodeIpcacheKey(const IpcacheKey& key) {
  Ipv4Prefix out;
  out.len = static_cast<uint8_t>(key.prefixlen - MEMBRANE_IPCACHE_BASE_PREFIX);
  const uint32_t mask = out.len == 0 ? 0 : ~0u << (32 - out.len);
  out.addr = ntohl(key.ip4) & mask;
  return out;
}

namespace {

IpcacheInfo encodeIpcacheInfo(const IpcacheEntry& e) {
  IpcacheInfo info{};
  info.sec_identity = e.identity;
  info.tunnel_endpoint = htonl(e.tunnel_endpoint);
  info.encrypt_key = e.encrypt_key;
  info.flags = e.flags;
  return info;
}

IpcacheEntry decodeIpcacheInfo(const IpcacheInfo& info) {
  return {.identity = info.sec_identity,
          .tunnel_endpoint = ntohl(info.tunnel_endpoint),
          .encrypt_key = info.encrypt_key,
          .flags = info.flags};
}

EndpointKey encodeEndpointKey(uint32_t addr) {
  EndpointKey key{};
  key.ip4 = htonl(addr);
  key.family = MEMBRANE_FAMILY_IPV4;
  return key;
}

EndpointInfo encodeEndpointInfo(const EndpointEntry& e) {
  EndpointInfo info{};
  info.ifindex = e.ifindex;
  info.endpoint_id = e.endpoint_id;
  info.flags = e.flags;
  info.sec_identity = e.identity;
  std::memcpy(info.mac, e.mac.data(), 6);
  std::memcpy(info.node_mac, e.node_mac.data(), 6);
  return info;
}

EndpointEntry decodeEndpointInfo(const EndpointInfo& info) {
  EndpointEntry e;
  e.endpoint_id = info.endpoint_id;
  e.identity = info.sec_identity;
  e.ifindex = info.ifindex;
  e.flags = info.flags;
  std::memcpy(e.mac.data(), info.mac, 6);
  std::memcpy(e.node_mac.data(), info.node_mac, 6);
  return e;
}

}  // namespace

Result<IpcacheState> IpcacheWriter::readBack() const {
  auto typed = TypedMap<IpcacheKey, IpcacheInfo>::wrap(*map_);
  if (!typed) return typed.error();
  auto entries = typed->entries();
  if (!entries) return entries.error();
  IpcacheState out;
  for (const auto& [k, v] : *entries) {
    if (k.family == MEMBRANE_FAMILY_IPV4) out[decodeIpcacheKey(k)] = decodeIpcacheInfo(v);
  }
  return out;
}

Result<IpcacheChange> IpcacheWriter::apply(const IpcacheState& desired) {
  for (const auto& [p, e] : desired) {
    const uint32_t mask = p.len == 0 ? 0 : ~0u << (32 - p.len);
    if (p.len > 32 || (p.addr & ~mask) != 0) {
      return Error{.code = EINVAL, .context = "ipcache prefix " + p.str() + ": not canonical"};
    }
  }
  if (!loaded_) {
    auto cur = readBack();
    if (!cur) return cur.error();
    current_ = std::move(*cur);
    loaded_ = true;
  }
  auto typed = TypedMap<IpcacheKey, IpcacheInfo>::wrap(*map_);
  if (!typed) return typed.error();

  IpcacheChange change;
  for (const auto& [p, e] : desired) {
    auto it = current_.find(p);
    if (it == current_.end() || !(it->second == e)) change.upserted.push_back(p);
  }
  for (const auto& [p, e] : current_) {
    if (!desired.contains(p)) change.removed.push_back(p);
  }
  // Longest prefixes first for upserts, shortest first for deletions.
  std::stable_sort(change.upserted.begin(), change.upserted.end(),
                   [](const Ipv4Prefix& a, const Ipv4Prefix& b) { return a.len > b.len; });
  std::stable_sort(change.removed.begin(), change.removed.end(),
                   [](const Ipv4Prefix& a, const Ipv4Prefix& b) { return a.len < b.len; });
  for (const Ipv4Prefix& p : change.upserted) {
    const IpcacheEntry& e = desired.at(p);
    if (auto r = typed->update(encodeIpcacheKey(p), encodeIpcacheInfo(e)); !r) {
      loaded_ = false;  // re-read before the next apply
      return Error{.code = r.error().code,
                   .context = "ipcache " + p.str() + ": " + r.error().context};
    }
    current_[p] = e;
  }
  for (const Ipv4Prefix& p : change.removed) {
    if (auto r = typed->erase(encodeIpcacheKey(p)); !r) {
      loaded_ = false;
      return Error{.code = r.error().code,
                   .context = "ipcache " + p.str() + ": " + r.error().context};
    }
    current_.erase(p);
  }
  return change;
}

Result<EndpointState> EndpointWriter::readBack() const {
  auto typed = TypedMap<EndpointKey, EndpointInfo>::wrap(*map_);
  if (!typed) return typed.error();
  auto entries = typed->entries();
  if (!entries) return entries.error();
  EndpointState out;
  for (const auto& [k, v] : *entries) {
    if (k.family == MEMBRANE_FAMILY_IPV4) out[ntohl(k.ip4)] = decodeEndpointInfo(v);
  }
  return out;
}

Result<EndpointChange> EndpointWriter::apply(const EndpointState& desired) {
  if (!loaded_) {
    auto cur = readBack();
    if (!cur) return cur.error();
    current_ = std::move(*cur);
    loaded_ = true;
  }
  auto typed = TypedMap<EndpointKey, EndpointInfo>::wrap(*map_);
  if (!typed) return typed.error();
  EndpointChange change;
  for (const auto& [addr, e] : desired) {
    auto it = current_.find(addr);
    if (it != current_.end() && it->second == e) continue;
    if (auto r = typed->update(encodeEndpointKey(addr), encodeEndpointInfo(e)); !r) {
      loaded_ = false;
      return Error{.code = r.error().code,
                   .context = "endpoint " + formatIpv4(addr) + ": " + r.error().context};
    }
    current_[addr] = e;
    change.upserted.push_back(addr);
  }
  for (auto it = current_.begin(); it != current_.end();) {
    if (desired.contains(it->first)) {
      ++it;
      continue;
    }
    if (auto r = typed->erase(encodeEndpointKey(it->first)); !r) {
      loaded_ = false;
      return Error{.code = r.error().code,
                   .context = "endpoint " + formatIpv4(it->first) + ": " + r.error().context};
    }
    change.removed.push_back(it->first);
    it = current_.erase(it);
  }
  return change;
}

}  // namespace membrane::dataplane
