// SPDX-License-Identifier: Apache-2.0
#include "kvstore/registry.h"

#include <nlohmann/json.hpp>

namespace membrane::kvstore {

using nlohmann::json;

std::string encodeNode(const NodeRecord& n) {
  return json{{"name", n.name},
              {"ip", n.ip},
              {"podCIDR", n.pod_cidr},
              {"tunnelEndpoint", n.tunnel_endpoint},
              {"observer", n.observer}}
      .dump();
}

std::optional<NodeRecord> decodeNode(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.value("name", json()).is_string()) return std::nullopt;
  return NodeRecord{.name = j.value("name", ""),
                    .ip = j.value("ip", ""),
                    .pod_cidr = j.value("podCIDR", ""),
                    .tunnel_endpoint = j.value("tunnelEndpoint", ""),
                    .observer = j.value("observer", "")};
}

std::string encodeEndpoint(const EndpointRecord& e) {
  return json{{"ip", e.ip}, {"identity", e.identity}, {"node", e.node}}.dump();
}

std::optional<EndpointRecord> decodeEndpoint(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.value("identity", json()).is_number_unsigned()) return std::nullopt;
  return EndpointRecord{.ip = j.value("ip", ""),
                        .identity = j.value("identity", model::IdentityId{0}),
                        .node = j.value("node", "")};
}

Result<int64_t> Registry::publishNode(const NodeRecord& n) {
  return session_.client().put(layout_.node(n.name), encodeNode(n), session_.lease());
}

Result<int64_t> Registry::publishEndpoint(const EndpointRecord& e) {
  return session_.client().put(layout_.ipcache(e.ip), encodeEndpoint(e), session_.lease());
}

Result<int64_t> Registry::withdrawEndpoint(const std::string& ip) {
  return session_.client().del(layout_.ipcache(ip));
}

Result<std::vector<NodeRecord>> listNodes(Client& c, const Layout& l) {
  auto r = c.getPrefix(l.node(""));
  if (!r) return r.error();
  std::vector<NodeRecord> out;
  for (const auto& kv : r->kvs) {
    if (auto n = decodeNode(kv.value)) out.push_back(*n);
  }
  return out;
}

Result<std::vector<EndpointRecord>> listEndpoints(Client& c, const Layout& l) {
  auto r = c.getPrefix(l.ipcache(""));
  if (!r) return r.error();
  std::vector<EndpointRecord> out;
  for (const auto& kv : r->kvs) {
    if (auto e = decodeEndpoint(kv.value)) out.push_back(*e);
  }
  return out;
}

}  // namespace membrane::kvstore
