// SPDX-License-Identifier: Apache-2.0
#include "agent/endpoints.h"

#include <cstdio>

#include "model/ip.h"

namespace membrane::agent {

Mac podMacFor(uint32_t ip) {
  return {0x0a,
          0x58,
          static_cast<uint8_t>(ip >> 24),
          static_cast<uint8_t>(ip >> 16),
          static_cast<uint8_t>(ip >> 8),
          static_cast<uint8_t>(ip)};
}

Mac hostMacFor(uint32_t ip) {
  return {0x02,
          0xbb,
          static_cast<uint8_t>(ip >> 24),
          static_cast<uint8_t>(ip >> 16),
          static_cast<uint8_t>(ip >> 8),
          static_cast<uint8_t>(ip)};
}

std::string hostIfnameFor(uint32_t ip) {
  char b[16];
  std::snprintf(b, sizeof(b), "lxc%08x", ip);
  return b;
}

std::string macStr(const Mac& m) {
  char b[18];
  std::snprintf(b, sizeof(b), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

nlohmann::json toJson(const EndpointRecord& r) {
  return {{"id", r.id},
          {"containerId", r.container_id},
          {"ifname", r.ifname},
          {"netns", r.netns},
          {"podNamespace", r.pod_namespace},
          {"podName", r.pod_name},
          {"labels", r.effective_labels},
          {"identity", r.identity},
          {"ip", model::formatIpv4(r.ip)},
          {"prefixLength", 32},
          {"gateway", model::formatIpv4(kPodGateway)},
          {"mac", macStr(podMacFor(r.ip))},
          {"hostIfname", r.host_ifname},
          {"hostIfindex", r.host_ifindex},
          {"mtu", r.mtu},
          {"policyAuditMode", r.policy_audit},
          {"state", r.id != 0 ? "ready" : "pending"}};
}

namespace {

nlohmann::json persisted(const EndpointRecord& r) {
  return {{"containerId", r.container_id},
          {"ifname", r.ifname},
          {"netns", r.netns},
          {"podNamespace", r.pod_namespace},
          {"podName", r.pod_name},
          {"labels", r.labels},
          {"ip", model::formatIpv4(r.ip)},
          {"hostIfname", r.host_ifname},
          {"hostIfindex", r.host_ifindex},
          {"mtu", r.mtu},
          {"policyAuditMode", r.policy_audit}};
}

}  // namespace

Result<EndpointStore> EndpointStore::open(const std::string& path) {
  EndpointStore s;
  s.path_ = path;
  auto text = readFileIfExists(path);
  if (!text) return text.error();
  if (!*text) return s;
  try {
    auto j = nlohmann::json::parse(**text);
    for (const auto& e : j.at("endpoints")) {
      EndpointRecord r{.container_id = e.at("containerId"),
                       .ifname = e.at("ifname"),
                       .netns = e.at("netns"),
                       .pod_namespace = e.at("podNamespace"),
                       .pod_name = e.at("podName"),
                       .labels = e.at("labels").get<std::map<std::string, std::string>>(),
                       .host_ifname = e.at("hostIfname"),
                       .host_ifindex = e.at("hostIfindex"),
                       .mtu = e.at("mtu")};
      auto ip = model::parseIpv4(e.at("ip").get<std::string>());
      if (!ip) return Error{.code = EINVAL, .context = path + ": bad address in " + r.key()};
      r.ip = *ip;
      r.policy_audit = e.value("policyAuditMode", false);  // absent in stores before it existed
      s.records_[r.key()] = r;
    }
  } catch (const nlohmann::json::exception& e) {
    return Error{.code = EINVAL, .context = path + ": " + e.what()};
  }
  return s;
}

const EndpointRecord* EndpointStore::find(const std::string& key) const {
  auto it = records_.find(key);
  return it == records_.end() ? nullptr : &it->second;
}

Status EndpointStore::save() const {
  nlohmann::json j;
  j["endpoints"] = nlohmann::json::array();
  for (const auto& [k, r] : records_) j["endpoints"].push_back(persisted(r));
  return writeFileAtomic(path_, j.dump(1) + "\n");
}

}  // namespace membrane::agent
