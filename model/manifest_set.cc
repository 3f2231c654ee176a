// SPDX-License-Identifier: Apache-2.0
#include "model/manifest_set.h"

#include <map>
#include <string_view>

#include "model/yaml_guard.h"

namespace membrane::model {

namespace {
// Never throws: a missing parent (an invalid node, from operator[] on a const map) is absent.
std::string scalarAt(const YAML::Node& map, const char* key) {
  if (!map.IsDefined() || !map.IsMap()) return "";
  YAML::Node v = map[key];
  return v.IsDefined() && v.IsScalar() ? v.Scalar() : "";
}

bool clusterScoped(std::string_view kind) {
  return kind == "Namespace" || kind == "Node" || kind == "CiliumClusterwideNetworkPolicy" ||
         kind == "CiliumCIDRGroup";
}

SourceLoc locOf(const std::string& file, const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.is_null()) return {.file = file};
  return {.file = file, .line = m.line + 1, .column = m.column + 1};
}
}  // namespace

std::string objectIdentity(const YAML::Node& doc) {
  if (!doc.IsDefined() || !doc.IsMap()) return "";
  const std::string kind = scalarAt(doc, "kind");
  const YAML::Node meta = doc["metadata"];
  const std::string name = scalarAt(meta, "name");
  if (kind.empty() || name.empty()) return "";
  if (clusterScoped(kind)) return kind + "/" + name;
  std::string ns = scalarAt(meta, "namespace");
  return kind + "/" + (ns.empty() ? "default" : ns) + "/" + name;
}

std::vector<ManifestDoc> parseManifestDocs(const std::string& file, const std::string& text,
                                           Diagnostics& diags) {
  if (auto bad = checkYamlSyntax(text, file)) {
    diags.error(std::move(*bad));
    return {};
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    diags.error({.loc = {.file = file, .line = e.mark.line + 1, .column = e.mark.column + 1},
                 .message = "malformed YAML: " + e.msg});
    return {};
  }
  std::vector<ManifestDoc> out;
  for (const auto& d : docs) {
    // Items of a typed list (PodList, NamespaceList) may omit kind and apiVersion; each is
    // an object of its own for apply. Lists of other shapes go to the loader, which reports.
    const std::string kind = scalarAt(d, "kind");
    YAML::Node items = d.IsMap() ? d["items"] : YAML::Node();
    if (kind.ends_with("List") && items.IsDefined() && items.IsSequence()) {
      const std::string item_kind = kind.substr(0, kind.size() - 4);
      const std::string api = scalarAt(d, "apiVersion");
      for (YAML::Node item : items) {
        if (item.IsMap() && !item_kind.empty() && !item["kind"].IsDefined()) {
          item["kind"] = item_kind;
          if (!item["apiVersion"].IsDefined()) item["apiVersion"] = api.empty() ? "v1" : api;
        }
        out.push_back({.file = file, .node = item, .loc = locOf(file, item)});
      }
      continue;
    }
    out.push_back({.file = file, .node = d, .loc = locOf(file, d)});
  }
  return out;
}

std::vector<ManifestDoc> applyManifestSet(const std::vector<ManifestDoc>& current,
                                          const std::vector<ManifestDoc>& set, Diagnostics& diags) {
  std::map<std::string, const ManifestDoc*> first;
  std::vector<const ManifestDoc*> incoming;
  for (const auto& d : set) {
    const std::string id = objectIdentity(d.node);
    if (!id.empty()) {
      auto [it, fresh] = first.emplace(id, &d);
      if (!fresh) {
        diags.error({.loc = d.loc,
                     .object = id,
                     .message = "defined twice in one manifest set: first at " +
                                it->second->loc.str() + ", again at " + d.loc.str() +
                                " (a later step's apply may replace it; one set may not)"});
        continue;
      }
    }
    incoming.push_back(&d);
  }
  // Rebuilt rather than erased in place: assigning a YAML::Node re-points it at the other
  // node's data instead of copying, so shifting elements would alias documents.
  std::vector<ManifestDoc> out;
  for (const auto& d : current) {
    const std::string id = objectIdentity(d.node);
    if (id.empty() || first.count(id) == 0) out.push_back(d);
  }
  for (const ManifestDoc* d : incoming) out.push_back(*d);
  return out;
}

}  // namespace membrane::model
