// SPDX-License-Identifier: Apache-2.0
// `membrane sim`: one runner, three backends. The runner walks the scenario's steps, loads
// the cluster of each step, enumerates the checked cells with the model's prediction and
// lets the backend apply the step and observe every cell.
//   model  the reference engine (model::Engine::evaluate)
//   bpf    every probe's packets through the loaded BPF programs (BPF_PROG_TEST_RUN), hop by
//          hop, maps filled by the node agent
//   netns  nodes and pods as network namespaces, programs attached, real connections
//   ns3    the underlay simulated in ns-3 (sim/ns3/), every pod hop decided by the BPF
//          programs through BPF_PROG_TEST_RUN, their run time charged as node delay
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
  bool match = true;            // observed satisfies expected
  bool agrees = true;           // observed agrees with the model's prediction
  std::string note;             // how the backend decided (e.g. SCTP INIT seen on the interface)
  std::vector<std::string> events;  // flow events the datapath emitted for this cell
  // "ns/name" when the destination is a Service (column svc:NS/NAME, or a peer whose address
  // is a Service's frontend); `port` is then the Service port and `dst` the frontend address.
  std::string service;
};

// One invariant of the scenario's invariants file, proven by the verifier on the cluster of
// one step (a step may change policies: every step is proven).
struct InvariantCheck {
  size_t step = 0;
  std::string name;
  std::string outcome;  // verify::outcomeName: holds, violated, unknown
  std::string detail;   // violated: the witness flow; unknown: why
  bool ok = false;      // holds
};

// What a backend measured for one traffic item of scenario.yaml under load (netns).
struct TrafficLoad {
  const TrafficFlow* flow = nullptr;  // into Scenario::traffic
  size_t sent = 0;
  size_t delivered = 0;
};

// One traffic item judged after the last step: its expectation (`expect`, else the model's
// verdict) against the backend's observation of one probe of the flow and, where the
// backend ran the load, against sent / delivered (allow: every one delivered; deny: none).
struct TrafficCheck {
  size_t index = 0;  // into Scenario::traffic
  SimCell cell;      // the probe; cell.expected is the expectation as a cell
  bool expect_from_model = true;
  std::optional<TrafficLoad> load;
  bool match = true;
};

// What the ns3 backend measured for one traffic item under its load (simulated time).
struct FlowStats {
  size_t index = 0;        // into Scenario::traffic
  uint64_t sent = 0;       // requests / datagrams / segments
  uint64_t delivered = 0;  // answered requests / delivered datagrams and segments
  uint64_t bytes = 0;      // payload bytes delivered (both directions for request-response)
  double seconds = 0;      // the load's duration
  std::vector<uint64_t> latency_ns;  // sorted: request-response round trip, else one way
  uint64_t percentile(double q) const;
  double loss() const { return sent == 0 ? 0 : 1.0 - double(delivered) / double(sent); }
  double throughputBps() const { return seconds > 0 ? double(bytes) * 8 / seconds : 0; }
};

// One bound of one property of scenario.yaml, measured vs bound.
struct PropertyCheck {
  std::string subject;  // "flow api" or "shop/frontend -> shop/backend"
  std::string metric;   // p50, p99, throughput, loss
  std::string measured;
  std::string bound;    // "<= 2ms", ">= 100Mbps"
  bool judged = false;  // the backend measured it (ns3); else not judged
  bool ok = false;
  model::SourceLoc loc;
};

struct SimReport {
  std::string scenario;
  std::string backend;
  Routing routing = Routing::Overlay;
  std::vector<std::string> steps;
  std::vector<SimCell> cells;
  std::vector<std::string> notes;  // backend remarks (setup figures, simplifications)
  std::vector<InvariantCheck> invariants;
  std::vector<TrafficCheck> traffic;
  std::vector<PropertyCheck> properties;
  std::vector<FlowStats> flows;  // ns3: every traffic item's measured load
  model::Diagnostics diags;
  size_t mismatches = 0;     // cells whose observation does not satisfy the expectation
  size_t disagreements = 0;  // cells (and traffic probes) where backend and model differ
  size_t invariants_failed = 0;
  size_t traffic_failed = 0;
  size_t properties_failed = 0;
  double seconds = 0;
  bool ok() const {
    return diags.ok() && mismatches == 0 && disagreements == 0 && invariants_failed == 0 &&
           traffic_failed == 0 && properties_failed == 0;
  }
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
  // Sent / delivered of the scenario's traffic, for backends that run it as load (netns).
  virtual std::vector<TrafficLoad> trafficLoad() const { return {}; }
  // Per-flow measurements of the scenario's traffic (ns3; netns: TCP request-response).
  virtual std::vector<FlowStats> flowStats() const { return {}; }
  // Whether properties are judged against flowStats(): only a backend that models the
  // underlay's links (ns3) can hold a scenario to its latency / throughput bounds; the others
  // report what they measured beside the bound.
  virtual bool judgesProperties() const { return false; }
};

struct SimOptions {
  std::optional<Routing> routing;  // overrides the scenario's
  int timeout_ms = 1000;           // netns: per probe
  Progress progress;               // stderr lines; may be empty
  // netns: the product binaries (empty: findProductBinary's defaults, sim/agent_process.h).
  std::string agent_bin;
  std::string cni_bin;
  // netns: where the agents take the desired state from. Etcd: a real etcd of the run, fed
  // with `membrane apply` / `membrane delete` (membrane_bin; empty: findProductBinary's
  // default); Directory: each agent's watched directory (sim/cluster_store.h).
  enum class DesiredState { Etcd, Directory };
  DesiredState desired_state = DesiredState::Directory;
  std::string membrane_bin;
  // ns3: the random seed, and a fixed processing charge per program run instead of the
  // measured run time (bit-identical timings across runs).
  uint32_t seed = 1;
  std::optional<uint32_t> bpf_cost_ns;
  // ns3: the per-flow verdict cache for reply packets (sim/ns3/pod_path.h): off, on, verify.
  std::string verdict_cache = "off";
};

std::unique_ptr<Backend> makeModelBackend();

// When `cell.to` is a Service: predicts the cell through its ready backends (allowed when
// every backend allows the DNATed flow, blocked when none does; E or I when every backend is
// blocked on that side) and says which in cell.note. Returns false with *why when the cell
// cannot be judged (no such Service or port, or backends that disagree: the outcome would
// depend on the backend the datapath picks). Leaves the cell alone when `to` is no Service.
bool predictServiceCell(const CorpusCase& c, const Probe& p, const model::Cluster& cluster,
                        const model::Engine& engine, SimCell& cell, std::string* why);
std::unique_ptr<Backend> makeBpfBackend(const SimOptions& options);
std::unique_ptr<Backend> makeNetnsBackend(const SimOptions& options);
std::unique_ptr<Backend> makeNs3Backend(const SimOptions& options);  // membrane_sim_ns3

SimReport runScenario(const Scenario& s, Backend& backend, const SimOptions& options);

// The checked cells of step `step` with the model's prediction (errors go to diags).
std::vector<SimCell> enumerateCells(const Scenario& s, size_t step, const model::Cluster& cluster,
                                    const model::Engine& engine, model::Diagnostics& diags);

// Whether the backend's observation agrees with the model's prediction: the same
// allowed-or-not, and the same side when the backend can tell it (E, I).
bool observationAgrees(Cell predicted, Cell observed);

// The traffic items as probes of step `step` (their cell.expected: `expect` or the model's).
std::vector<TrafficCheck> enumerateTraffic(const Scenario& s, size_t step,
                                           const model::Cluster& cluster,
                                           const model::Engine& engine, model::Diagnostics& diags);
// Judges probed traffic checks, with `load` where the backend measured it.
size_t judgeTraffic(std::vector<TrafficCheck>& checks, const std::vector<TrafficLoad>& load,
                    const Scenario& s);

// Judges scenario.yaml's properties against the flows' measurements (none: not judged).
// `judge`: the backend models the links (ns3); otherwise measured values (when `flows` has
// them) are shown but no bound is judged.
std::vector<PropertyCheck> judgeProperties(const Scenario& s, const std::vector<FlowStats>& flows,
                                           bool judge);

// Output: observed, expected and predicted tables per probe, then every mismatch and
// disagreement with its events, the invariants and the traffic; json: one object per
// scenario.
void printReportText(const SimReport& r, std::ostream& out);
void printReportJson(const std::vector<SimReport>& reports, std::ostream& out);
// JUnit XML: one testsuite per scenario, a testcase per cell mismatch class, invariant,
// traffic item and property bound.
void printReportJunit(const std::vector<SimReport>& reports, std::ostream& out);

}  // namespace membrane::sim
