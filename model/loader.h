// SPDX-License-Identifier: Apache-2.0
// Loads manifests (files or directories of YAML/JSON, multi-document) into a Cluster.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/cluster.h"
#include "model/diagnostics.h"
#include "model/manifest_set.h"

namespace membrane::model {

struct LoadResult {
  Cluster cluster;
  Diagnostics diags;  // the cluster is meaningful only when diags.ok()
};

// Files are read in a stable order: arguments as given, directories recursively in sorted
// order (*.yaml, *.yml, *.json). Every error found is reported, not only the first. The
// files form one manifest set: an object defined twice (same kind, namespace, name) is an
// error naming both places.
LoadResult loadCluster(const std::vector<std::string>& paths, const ClusterOptions& options = {});

// One in-memory document stream; `name` stands for the file name in diagnostics.
struct ManifestText {
  std::string name;
  std::string text;
};
// All texts form one manifest set: two objects with the same kind, namespace and name are an
// error naming both places (model/manifest_set.h).
LoadResult loadClusterFromTexts(const std::vector<ManifestText>& texts,
                                const ClusterOptions& options = {});
// Sets applied one after the other, as `kubectl apply` would: an object of a later set
// replaces the earlier one with the same kind, namespace and name.
LoadResult loadClusterFromSets(const std::vector<std::vector<ManifestText>>& sets,
                               const ClusterOptions& options = {});

// One manifest set from documents parsed before (parseManifestDocs, with the diagnostics
// that parse gave in `parse_diags`): callers that keep the documents of texts that did not
// change between loads skip parsing them again (the agent's LoadCache). The same result as
// loadClusterFromTexts of the texts the documents came from.
LoadResult loadClusterFromDocs(const std::vector<ManifestDoc>& docs, const Diagnostics& parse_diags,
                               const ClusterOptions& options = {});

// The files `paths` expand to, in load order; missing paths are reported in `diags`.
std::vector<std::string> collectManifestFiles(const std::vector<std::string>& paths,
                                              Diagnostics& diags);

}  // namespace membrane::model
