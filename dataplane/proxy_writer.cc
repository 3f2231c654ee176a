// SPDX-License-Identifier: Apache-2.0
#include "dataplane/proxy_writer.h"

#include <cerrno>
#include <string>

namespace membrane::dataplane {

ProxyKey encodeProxyKey(uint16_t port) {
  ProxyKey key{};
  key.port = port;
  return key;
}

ProxyInfo encodeProxyInfo(const ProxyPortEntry& e) {
  ProxyInfo info{};
  info.ifindex = e.ifindex;
  info.flags = e.listening ? MEMBRANE_PROXY_F_LISTENING : 0;
  return info;
}

ProxyPortEntry decodeProxyInfo(const ProxyInfo& info) {
  return {.ifindex = info.ifindex, .listening = (info.flags & MEMBRANE_PROXY_F_LISTENING) != 0};
}

Result<ProxyPortState> ProxyPortWriter::readBack() const {
  auto typed = TypedMap<ProxyKey, ProxyInfo>::wrap(*map_);
  if (!typed) return typed.error();
  auto entries = typed->entries();
  if (!entries) return entries.error();
  ProxyPortState out;
  for (const auto& [k, v] : *entries) out[k.port] = decodeProxyInfo(v);
  return out;
}

Result<ProxyPortChange> ProxyPortWriter::apply(const ProxyPortState& desired) {
  if (desired.contains(0)) {
    return Error{.code = EINVAL, .context = "proxy port 0: expected a port 1..65535"};
  }
  if (!loaded_) {
    auto cur = readBack();
    if (!cur) return cur.error();
    current_ = std::move(*cur);
    loaded_ = true;
  }
  auto typed = TypedMap<ProxyKey, ProxyInfo>::wrap(*map_);
  if (!typed) return typed.error();
  ProxyPortChange change;
  for (const auto& [port, e] : desired) {
    auto it = current_.find(port);
    if (it != current_.end() && it->second == e) continue;
    if (auto r = typed->update(encodeProxyKey(port), encodeProxyInfo(e)); !r) {
      loaded_ = false;  // re-read before the next apply
      return Error{.code = r.error().code,
                   .context = "proxy port " + std::to_string(port) + ": " + r.error().context};
    }
    current_[port] = e;
    change.upserted.push_back(port);
  }
  for (auto it = current_.begin(); it != current_.end();) {
    if (desired.contains(it->first)) {
      ++it;
      continue;
    }
    if (auto r = typed->erase(encodeProxyKey(it->first)); !r) {
      loaded_ = false;
      return Error{.code = r.error().code,
                   .context = "proxy port " + std::to_string(it->first) + ": " + r.error().context};
    }
    change.removed.push_back(it->first);
    it = current_.erase(it);
  }
  return change;
}

}  // namespace membrane::dataplane
