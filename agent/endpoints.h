// SPDX-License-Identifier: Apache-2.0
// CNI-created endpoints as the agent records them, and their store: one JSON file in the
// state directory, rewritten atomically on every change, read back on start.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/node_net.h"
#include "agent/state.h"

namespace membrane::agent {

struct EndpointRecord {
  std::string container_id;
  std::string ifname;
  std::string netns;
  std::string pod_namespace;  // as requested (may be empty)
  std::string pod_name;
  std::map<std::string, std::string> labels;  // requested; used without a Pod object
  uint32_t ip = 0;                            // host order
  std::string host_ifname;
  int host_ifindex = 0;
  uint32_t mtu = 0;
  // Per-endpoint policy audit mode (PATCH /v1/endpoints/ID/config): policy drops of this
  // endpoint pass and are reported as AUDIT. Persisted.
  bool policy_audit = false;
  // Filled by the reconcile (not persisted: derived state).
  uint16_t id = 0;
  uint32_t identity = 0;
  std::string model_pod;  // "namespace/name" of the model pod standing for it
  std::map<std::string, std::string> effective_labels;

  std::string key() const { return container_id + "/" + ifname; }
};

Mac podMacFor(uint32_t ip);              // 0a:58:<ip> like the CNI bridge plugin
Mac hostMacFor(uint32_t ip);             // locally administered, distinct from the pod's
std::string hostIfnameFor(uint32_t ip);  // "lxc0a000107"
std::string macStr(const Mac& m);

nlohmann::json toJson(const EndpointRecord& r);  // the API's endpoint object

class EndpointStore {
 public:
  static Result<EndpointStore> open(const std::string& path);
  const std::map<std::string, EndpointRecord>& all() const { return records_; }
  std::map<std::string, EndpointRecord>& mutableAll() { return records_; }
  const EndpointRecord* find(const std::string& key) const;
  void put(const EndpointRecord& r) { records_[r.key()] = r; }
  void erase(const std::string& key) { records_.erase(key); }
  Status save() const;

 private:
  std::string path_;
  std::map<std::string, EndpointRecord> records_;
};

}  // namespace membrane::agent
