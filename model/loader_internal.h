// SPDX-License-Identifier: Apache-2.0
// Internal to model/: the builder that turns YAML documents into a Cluster.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

#include "model/cluster.h"
#include "model/identity.h"
#include "model/manifest_set.h"
#include "model/yaml_util.h"

namespace membrane::model {

struct RawObject {
  std::string kind;
  std::string api_version;
  std::string name;
  std::string ns;
  YAML::Node node;
  std::string file;
  SourceLoc loc;
};

// The protocol field of `parent` (TCP when absent); *ok false after an error.
uint8_t parseProtocolName(const YamlCtx& ctx, const YAML::Node& parent, std::string_view path,
                          bool* ok);

void decodeLabelMap(const YamlCtx& ctx, const YAML::Node& n, std::string_view path, StringMap& out);

// Translates one policy object into rules appended to `repo`.
void parsePolicyObject(const RawObject& o, const Cluster& cluster, PolicyRepository& repo,
                       Diagnostics& diags);

struct Builder {
  Cluster cluster;
  Diagnostics diags;
  std::vector<RawObject> policy_objects;

  void addDocs(const std::vector<ManifestDoc>& docs);
  void addDocument(const YAML::Node& doc, const std::string& file);
  void finish();

 private:
  void addNamespace(const YamlCtx& ctx, const RawObject& o);
  void addNode(const YamlCtx& ctx, const RawObject& o);
  void addPod(const YamlCtx& ctx, const RawObject& o);
  void addWorkload(const YamlCtx& ctx, const RawObject& o);
  void addService(const YamlCtx& ctx, const RawObject& o);
  void addEndpointSlice(const YamlCtx& ctx, const RawObject& o);
  void addCidrGroup(const YamlCtx& ctx, const RawObject& o);
  void expandWorkloads();
  void linkServices();
  void allocateNodePorts();

  std::map<std::string, size_t> owner_workload_;
  std::vector<size_t> expand_workloads_;
};

}  // namespace membrane::model
