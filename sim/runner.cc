// SPDX-License-Identifier: Apache-2.0
// The scenario runner and the model backend.
#include <chrono>

#include "sim/judge.h"
#include "sim/sim.h"

namespace membrane::sim {
namespace {

Cell cellOf(const model::Verdict& v) {
  if (v.allowed) return Cell::Allowed;
  return v.egress.allowed ? Cell::Ingress : Cell::Egress;
}

class ModelBackend final : public Backend {
 public:
  std::string name() const override { return "model"; }
  std::optional<std::string> apply(const StepState&) override { return std::nullopt; }
  void probe(const StepState&, std::vector<SimCell>& cells) override {
    for (auto& c : cells) {
      c.observed = c.predicted;
      c.note = c.service.empty() ? "model::Engine::evaluate" : "model::Engine::evaluate " + c.note;
    }
  }
};

}  // namespace

std::vector<SimCell> enumerateCells(const Scenario& s, size_t si, const model::Cluster& cluster,
                                    const model::Engine& engine, model::Diagnostics& diags) {
  std::vector<SimCell> out;
  const Step& step = s.c.steps[si];
  for (const Probe& p : step.probes) {
    std::string name(model::protocolName(p.protocol));
    if (!p.port.empty()) name += " " + p.port;
    for (size_t r = 0; r < p.rows.size(); ++r) {
      for (size_t col = 0; col < p.columns.size(); ++col) {
        if (p.cells[r][col] == Cell::Skip) continue;
        SimCell c{.step = si,
                  .probe = name,
                  .from = p.rows[r],
                  .to = p.columns[col],
                  .row = r,
                  .col = col,
                  .protocol = p.protocol,
                  .expected = p.cells[r][col]};
        std::string why;
        auto src = resolveCaseEndpoint(s.c, cluster, c.from, &why);
        if (src) {
          c.src = *src;
          if (!predictServiceCell(s.c, p, cluster, engine, c, &why)) {
            diags.error({.loc = p.loc, .object = "scenario " + s.dir, .message = why});
            continue;
          }
          if (!c.service.empty()) {
            out.push_back(std::move(c));
            continue;
          }
        }
        auto dst = src ? resolveCaseEndpoint(s.c, cluster, c.to, &why) : std::nullopt;
        auto port = dst ? probePort(p, cluster, *dst) : std::nullopt;
        if (dst && !port) why = "named port " + p.port + " is not a port of " + c.to;
        if (!src || !dst || !port) {
          diags.error({.loc = p.loc, .object = "scenario " + s.dir, .message = why});
          continue;
        }
        c.src = *src;
        c.dst = *dst;
        c.port = *port;
        c.predicted = cellOf(
            engine.evaluate({.src = c.src, .dst = c.dst, .protocol = c.protocol, .port = c.port}));
        out.push_back(std::move(c));
      }
    }
  }
  return out;
}

std::unique_ptr<Backend> makeModelBackend() { return std::make_unique<ModelBackend>(); }

namespace {
// The model reasons through Services; the netns and bpf backends' agents program them into
// their datapaths (a probe goes to the frontend and is DNATed by the client's program). The
// ns3 backend does not program service maps yet, and probing a VIP there would measure
// nothing membrane configured. Refused as unusable input (exit 2), never a silent pass.
void refuseServiceCells(const Backend& backend, const std::vector<SimCell>& cells,
                        const Scenario& s, model::Diagnostics& diags) {
  if (backend.name() == "model" || backend.name() == "netns" || backend.name() == "bpf") return;
  for (const auto& c : cells) {
    if (c.service.empty()) continue;
    diags.error({.loc = {.file = s.dir},
                 .object = "scenario " + s.dir,
                 .message = "the " + backend.name() + " backend cannot probe Service " + c.service +
                            " (" + c.from + " -> " + c.to +
                            ") yet: Services are "
                            "judged by the model, netns and bpf backends only"});
    return;
  }
}
}  // namespace

namespace {
// Probes the step's cells and, after the last step, the traffic items in one backend call
// (the netns backend runs the scenario's load after the last step's probes), then judges
// each cell against its expectation and against the model.
void probeAndJudge(Backend& backend, const StepState& st, std::vector<SimCell> cells,
                   std::vector<TrafficCheck>& traffic, SimReport& report) {
  const size_t n = cells.size();
  for (const auto& t : traffic) cells.push_back(t.cell);
  backend.probe(st, cells);
  for (size_t i = n; i < cells.size(); ++i) traffic[i - n].cell = std::move(cells[i]);
  cells.resize(n);
  for (auto& c : cells) {
    c.match = cellMatches(c.expected, c.observed);
    c.agrees = observationAgrees(c.predicted, c.observed);
    if (!c.match) ++report.mismatches;
    if (!c.agrees) ++report.disagreements;
    report.cells.push_back(std::move(c));
  }
}
}  // namespace

SimReport runScenario(const Scenario& s, Backend& backend, const SimOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  SimReport report{
      .scenario = s.dir, .backend = backend.name(), .routing = options.routing.value_or(s.routing)};
  verify::InvariantFile invariants;
  if (!s.invariants.empty()) invariants = verify::loadInvariants(s.invariants, report.diags);
  for (size_t si = 0; report.diags.ok() && si < s.c.steps.size(); ++si) {
    report.steps.push_back(s.c.steps[si].name);
    model::LoadResult loaded = loadCaseCluster(s.c, si, s.cluster);
    report.diags.merge(loaded.diags);
    if (!loaded.diags.ok()) break;
    model::Engine engine(loaded.cluster);
    std::string why;
    auto topo = buildTopology(s, loaded.cluster, &why);
    if (!topo) {
      report.diags.error({.loc = {.file = s.dir}, .message = why});
      break;
    }
    auto cells = enumerateCells(s, si, loaded.cluster, engine, report.diags);
    refuseServiceCells(backend, cells, s, report.diags);
    std::vector<TrafficCheck> traffic;
    if (si + 1 == s.c.steps.size()) {
      traffic = enumerateTraffic(s, si, loaded.cluster, engine, report.diags);
    }
    auto proofs = proveInvariants(invariants, si, loaded.cluster, report.diags);
    if (!report.diags.ok()) break;
    for (auto& p : proofs) {
      if (!p.ok) ++report.invariants_failed;
      report.invariants.push_back(std::move(p));
    }
    StepState st{.index = si,
                 .scenario = &s,
                 .cluster = &loaded.cluster,
                 .engine = &engine,
                 .topology = &*topo,
                 .routing = report.routing};
    if (options.progress) {
      options.progress(s.dir + ": step " + s.c.steps[si].name + ": applying (" +
                       std::to_string(loaded.cluster.pods.size()) + " pods, " +
                       std::to_string(topo->nodes.size()) + " nodes)");
    }
    if (auto err = backend.apply(st)) {
      report.diags.error({.loc = {.file = s.dir}, .message = backend.name() + ": " + *err});
      break;
    }
    if (options.progress) {
      options.progress(s.dir + ": step " + s.c.steps[si].name + ": probing " +
                       std::to_string(cells.size() + traffic.size()) + " cells");
    }
    probeAndJudge(backend, st, std::move(cells), traffic, report);
    report.traffic_failed += judgeTraffic(traffic, backend.trafficLoad(), s);
    for (const auto& t : traffic) report.disagreements += t.cell.agrees ? 0 : 1;
    for (auto& t : traffic) report.traffic.push_back(std::move(t));
  }
  if (report.diags.ok() && report.cells.empty() && report.traffic.empty() &&
      report.invariants.empty()) {
    // A scenario that judges nothing would pass without saying anything.
    report.diags.error({.loc = {.file = s.dir},
                        .message = "nothing to judge: no probe cell, traffic item or invariant"});
  }
  if (report.diags.ok()) {
    report.flows = backend.flowStats();
    report.properties = judgeProperties(s, report.flows, backend.judgesProperties());
    for (const auto& p : report.properties) report.properties_failed += p.judged && !p.ok;
  }
  report.notes = backend.notes();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace membrane::sim
