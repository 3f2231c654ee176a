// SPDX-License-Identifier: Apache-2.0
// Manifest sets, applied the way `kubectl apply` applies them: an object is keyed by its kind,
// namespace and name; a later set's object replaces an earlier one with the same key; two
// objects with the same key in one set are an error naming both places.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "model/diagnostics.h"

namespace membrane::model {

// One Kubernetes object (or a document the loader will reject) and where it was written.
struct ManifestDoc {
  std::string file;
  YAML::Node node;
  SourceLoc loc;
};

// "Kind/namespace/name"; namespaced kinds without metadata.namespace are in "default",
// cluster-scoped kinds (Namespace, Node, CiliumClusterwideNetworkPolicy, CiliumCIDRGroup)
// have no namespace part. Empty when the document lacks a kind or a name: such documents
// are never merged (the loader reports them).
std::string objectIdentity(const YAML::Node& doc);

// The documents of one file (items of a typed List count one by one). Syntax errors go to
// `diags` with file:line:column.
std::vector<ManifestDoc> parseManifestDocs(const std::string& file, const std::string& text,
                                           Diagnostics& diags);

// `current` with `set` applied: objects of `set` replace those of `current` with the same
// identity (they take the new object's place, at the end); a duplicate identity inside
// `set` is an error in `diags` naming both places, and only the first one is kept.
std::vector<ManifestDoc> applyManifestSet(const std::vector<ManifestDoc>& current,
                                          const std::vector<ManifestDoc>& set, Diagnostics& diags);

}  // namespace membrane::model
