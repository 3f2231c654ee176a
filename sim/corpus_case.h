// SPDX-License-Identifier: Apache-2.0
// Connectivity cases (../shared/corpus/FORMAT.md): manifests plus probes with truth tables.
// A case directory is also a valid scenario for `membrane sim`.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/diagnostics.h"
#include "model/engine.h"
#include "model/loader.h"
#include "model/manifest_set.h"

namespace membrane::sim {

// Any ('?', scenarios only): probed, no expectation; `membrane sim` still judges the backend's
// observation against the model's prediction, `membrane check` has nothing to check.
enum class Cell : char {
  Allowed = '.',
  Blocked = 'X',
  Egress = 'E',
  Ingress = 'I',
  Skip = '#',
  Any = '?'
};

struct Probe {
  std::string port;  // number or named port; empty for ICMP
  uint8_t protocol = model::kProtoTCP;
  std::vector<std::string> columns;
  std::vector<std::string> rows;
  std::vector<std::vector<Cell>> cells;  // [row][column]
  model::SourceLoc loc;
};

struct Relabel {
  std::string object;  // "Pod/ns/name"
  std::map<std::string, std::string> labels;
};

struct Step {
  std::string name;
  std::vector<std::string> apply;   // extra manifest files (relative to the case directory)
  std::vector<std::string> remove;  // "Kind/namespace/name"
  std::vector<Relabel> relabel;
  std::vector<Probe> probes;
};

struct CorpusCase {
  std::string dir;
  std::string description;
  std::map<std::string, std::string> peers;  // name -> "1.1.1.1" or "node:node-1"
  std::vector<Step> steps;
};

// Parses <dir>/expect.yaml; errors go to `diags`.
std::optional<CorpusCase> loadCorpusCase(const std::string& dir, model::Diagnostics& diags);

// The documents as they are at step `step`: manifests.yaml and the steps' `apply` sets
// applied like kubectl apply, then the steps' deletes and relabels. Errors go to `diags`.
std::optional<std::vector<model::ManifestDoc>> caseDocs(const CorpusCase& c, size_t step,
                                                        model::Diagnostics& diags);

// Loads the cluster as it is at step `step` (applies, deletes, relabels of steps 0..step).
model::LoadResult loadCaseCluster(const CorpusCase& c, size_t step,
                                  const model::ClusterOptions& options = {});

// A flow endpoint named by a row or column ("ns/pod" or a peer key).
struct ResolvedEndpoint {
  model::FlowEndpoint endpoint;
  std::string node;  // for node peers
};
std::optional<model::FlowEndpoint> resolveCaseEndpoint(const CorpusCase& c,
                                                       const model::Cluster& cluster,
                                                       const std::string& name, std::string* why);

struct CellResult {
  std::string step;
  std::string probe;  // "TCP 8080"
  std::string from;
  std::string to;
  Cell expected = Cell::Skip;
  Cell observed = Cell::Skip;
  bool match = true;
  std::string explanation;
};

struct CaseReport {
  std::string dir;
  size_t checked = 0;
  size_t mismatches = 0;
  std::vector<CellResult> cells;
  model::Diagnostics diags;
};

// The probe's destination port: its number, or the named port of the destination pod;
// ICMP probes are echo requests (type 8). nullopt when a named port does not resolve.
std::optional<uint16_t> probePort(const Probe& p, const model::Cluster& cluster,
                                  const model::FlowEndpoint& dst);

// Whether `observed` satisfies `expected` (E and I also satisfy X).
bool cellMatches(Cell expected, Cell observed);

// Evaluates every cell of every step with the reference engine.
CaseReport checkCaseWithModel(const CorpusCase& c);

}  // namespace membrane::sim
