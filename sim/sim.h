// SPDX-License-Identifier: Apache-2.0
// `membrane sim`: one runner, three backends. The runner walks the scenario's steps, loads
// the cluster of each step, enumerates the checked cells with the model's prediction and
// lets the backend apply the step and observe every cell.
//   model  the reference engine (model::Engine::evaluate)
//   bpf    every probe's packets through the loaded BPF programs (BPF_PROG_TEST_RUN), hop by
//          hop, maps filled by the node agent
//   netns  nodes and pods as network namespaces, programs attached, real connections
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/engine.h"
#include "sim/corpus_case.h"
#include "sim/scenario.h"

namespace membrane::sim {

struct SimCell {
  size_t step = 0;
  std::string probe;  // "TCP 8080", "ICMP"
  std::string from;
  std::string to;
  size_t row = 0, col = 0;  // position in the probe's table
  uint8_t protocol = model::kProtoTCP;
  uint16_t port = 0;  // resolved (named ports looked up on the destination)
  model::FlowEndpoint src;
  model::FlowEndpoint dst;
  Cell expected = Cell::Skip;
  Cell predicted = Cell::Skip;  // the model
  Cell observed = Cell::Skip;   // the backend
  bool match = true;
  std::string note;  // how the backend decided (e.g. SCTP INIT seen on the interface)
  std::vector<std::string> events;  // flow events the datapath emitted for this cell
};

struct SimReport {
  std::string scenario;
  std::string backend;
  Routing routing = Routing::Overlay;
  std::vector<std::string> steps;
  std::vector<SimCell> cells;
  std::vector<std::string> notes;  // backend remarks (setup figures, simplifications)
  model::Diagnostics diags;
  size_t mismatches = 0;
  double seconds = 0;
  bool ok() const { return diags.ok() && mismatches == 0; }
};

// What a backend needs to bring a step about.
struct StepState {
  size_t index = 0;
  const Scenario* scenario = nullptr;
  const model::Cluster* cluster = nullptr;
  const model::Engine* engine = nullptr;
  const Topology* topology = nullptr;
  Routing routing = Routing::Overlay;
};

using Progress = std::function<void(const std::string&)>;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Brings the environment to the step's state (the first call sets it up). An error
  // (a message) ends the run.
  virtual std::optional<std::string> apply(const StepState& step) = 0;
  // Fills observed, note and events of every cell.
  virtual void probe(const StepState& step, std::vector<SimCell>& cells) = 0;
  virtual std::vector<std::string> notes() const { return {}; }
};

struct SimOptions {
  std::optional<Routing> routing;  // overrides the scenario's
  int timeout_ms = 1000;           // netns: per probe
  Progress progress;               // stderr lines; may be empty
};

std::unique_ptr<Backend> makeModelBackend();
std::unique_ptr<Backend> makeBpfBackend(const SimOptions& options);
std::unique_ptr<Backend> makeNetnsBackend(const SimOptions& options);

SimReport runScenario(const Scenario& s, Backend& backend, const SimOptions& options);

// The checked cells of step `step` with the model's prediction (errors go to diags).
std::vector<SimCell> enumerateCells(const Scenario& s, size_t step, const model::Cluster& cluster,
                                    const model::Engine& engine, model::Diagnostics& diags);

// Output: observed, expected and predicted tables per probe, then every mismatch with its
// events; json: one object per scenario.
void printReportText(const SimReport& r, std::ostream& out);
void printReportJson(const std::vector<SimReport>& reports, std::ostream& out);

}  // namespace membrane::sim
