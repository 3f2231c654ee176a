// SPDX-License-Identifier: Apache-2.0
// membrane sim: replay scenarios with the model, the BPF programs (test-run) or real
// namespaces, and compare the observed truth tables with the expected ones.
#include <fstream>
#include <iostream>
#include <tuple>

#include "cmd/args.h"
#include "sim/agent_process.h"
#include "sim/cluster_store.h"
#include "sim/run_registry.h"
#include "sim/sim.h"

namespace membrane::cmd {

namespace {

// --desired-state and the product binaries of a netns run, found before anything is
// created: a missing binary is unusable input, not a failed run.
bool netnsBinaries(Args& a, sim::SimOptions& options) {
  const std::string ds = a.values.count("--desired-state") ? a.values["--desired-state"] : "etcd";
  if (ds != "etcd" && ds != "dir") {
    std::cerr << "error: --desired-state: \"" << ds << "\" is not etcd or dir\n";
    return false;
  }
  options.desired_state =
      ds == "etcd" ? sim::SimOptions::DesiredState::Etcd : sim::SimOptions::DesiredState::Directory;
  auto agent =
      sim::findProductBinary("membrane-agent", a.values["--agent-bin"], "MEMBRANE_AGENT_BIN");
  auto cni = sim::findProductBinary("membrane-cni", a.values["--cni-bin"], "MEMBRANE_CNI_BIN");
  auto cli = sim::findProductBinary("membrane", a.values["--membrane-bin"], "MEMBRANE_BIN");
  auto etcd = ds == "etcd" ? sim::findEtcdBinary() : dataplane::Result<std::string>(std::string());
  for (const auto* r : {&agent, &cni, &cli, &etcd}) {
    if (!*r) {
      std::cerr << "error: " << r->error().message() << "\n";
      return false;
    }
  }
  options.agent_bin = *agent;
  options.cni_bin = *cni;
  options.membrane_bin = *cli;
  return true;
}

}  // namespace

int cmdSim(int argc, char** argv) {
  Args a;
  const std::string help =
      "membrane sim SCENARIO... [--backend model|bpf|netns|ns3] [--mode overlay|native]\n"
      "                 [-o txt|json] [--junit OUT.xml] [--timeout-ms N] [--quiet]\n"
      "                 [--agent-bin PATH] [--cni-bin PATH] [--membrane-bin PATH]\n"
      "                 [--desired-state etcd|dir] [--seed N] [--bpf-cost-ns N]\n"
      "       membrane sim --cleanup\n"
      "  Replays each scenario (a directory with manifests.yaml, expect.yaml and optionally\n"
      "  scenario.yaml; docs/scenarios.md) and prints the observed truth table beside the\n"
      "  expected one and the model's prediction; every mismatch with the datapath's flow\n"
      "  events. It judges: every observed cell must match its expectation ('?': none) and\n"
      "  agree with the model's prediction; scenario.yaml's invariants are proven on every\n"
      "  step; each traffic item must be observed as expected (its `expect`, else the model's\n"
      "  verdict; netns: every connection of the load delivered, or none).\n"
      "  ns3 also runs the traffic as load and judges scenario.yaml's properties (latency,\n"
      "  throughput, loss bounds), printing measured vs bound.\n"
      "  Exit codes: 0 all judged ok; 1 a mismatch, a disagreement with the model, a violated\n"
      "  (or unprovable) invariant, a traffic item not as expected or a property bound not\n"
      "  met; 2 unusable input.\n"
      "  --backend  model (default): the reference engine; bpf: the BPF programs through\n"
      "             BPF_PROG_TEST_RUN (root); netns: nodes and pods as network namespaces with\n"
      "             the programs attached and real TCP/UDP/ICMP connections (root): one\n"
      "             membrane-agent process per node, every pod created by membrane-cni ADD;\n"
      "             ns3: the underlay (scenario.yaml `underlay`) simulated in ns-3, every pod\n"
      "             hop decided by the BPF programs through BPF_PROG_TEST_RUN (root)\n"
      "  --junit    also writes the judgement as JUnit XML (a testcase per invariant, traffic\n"
      "             item and property bound)\n"
      "  --verdict-cache off|on|verify  ns3: reuse a program's verdict for reply packets of an\n"
      "             accepted connection (conntrack passes them without a policy lookup);\n"
      "             verify runs the program anyway and counts differences (default off)\n"
      "  --seed     ns3: the simulation's random seed (default 1)\n"
      "  --bpf-cost-ns  ns3: charge N ns per program run instead of its measured run time\n"
      "             (identical timings run after run)\n"
      "  --desired-state  netns: etcd (default): a real etcd of the run (Debian etcd-server;\n"
      "             $MEMBRANE_ETCD_BIN) in the underlay namespace, every step written with\n"
      "             `membrane apply` / `membrane delete`, agents with --desired-state etcd;\n"
      "             dir: each agent's watched directory gets the step's manifests\n"
      "  --agent-bin, --cni-bin, --membrane-bin  the product binaries netns runs (default:\n"
      "             $MEMBRANE_AGENT_BIN / $MEMBRANE_CNI_BIN / $MEMBRANE_BIN, else\n"
      "             membrane-agent / membrane-cni / membrane next to this membrane)\n"
      "  --mode     overrides the scenario's routing (overlay = VXLAN, native = routes)\n"
      "  --cleanup  removes what runs whose process died left: namespaces, agent processes,\n"
      "             bpffs mounts, run directories";
  if (!a.parse(argc, argv,
               {"--backend=", "--mode=", "--timeout-ms=", "--cleanup", "--quiet",
                "--agent-bin=", "--cni-bin=", "--membrane-bin=", "--desired-state=", "--seed=",
                "--bpf-cost-ns=", "--junit=", "--verdict-cache="},
               help, false)) {
    return a.exit_code;
  }
  if (a.flags.count("--cleanup")) {
    for (const auto& n : sim::cleanupStaleRuns()) std::cerr << "removed " << n << "\n";
    if (a.paths.empty()) return kExitOk;
  }
  if (a.paths.empty()) {
    std::cerr << "error: no scenario given\n\nUsage: " << help << "\n";
    return kExitBadInput;
  }
  const std::string backend = a.values.count("--backend") ? a.values["--backend"] : "model";
  if (backend != "model" && backend != "bpf" && backend != "netns" && backend != "ns3") {
    std::cerr << "error: --backend: \"" << backend << "\" is not model, bpf, netns or ns3\n";
    return kExitBadInput;
  }
  if (a.output != "txt" && a.output != "json") {
    std::cerr << "error: -o: \"" << a.output << "\" is not txt or json\n";
    return kExitBadInput;
  }
  sim::SimOptions options;
  if (auto m = a.values.find("--mode"); m != a.values.end()) {
    if (m->second == "overlay") {
      options.routing = sim::Routing::Overlay;
    } else if (m->second == "native") {
      options.routing = sim::Routing::Native;
    } else {
      std::cerr << "error: --mode: \"" << m->second << "\" is not overlay or native\n";
      return kExitBadInput;
    }
  }
  if (auto t = a.values.find("--timeout-ms"); t != a.values.end()) {
    try {
      options.timeout_ms = std::stoi(t->second);
    } catch (const std::exception&) {
      options.timeout_ms = 0;
    }
    if (options.timeout_ms < 50 || options.timeout_ms > 60000) {
      std::cerr << "error: --timeout-ms: \"" << t->second << "\" is not 50-60000\n";
      return kExitBadInput;
    }
  }
  for (const auto& [flag, lo, hi] :
       {std::tuple{"--seed", 1L, 2147483647L}, std::tuple{"--bpf-cost-ns", 0L, 1000000000L}}) {
    auto v = a.values.find(flag);
    if (v == a.values.end()) continue;
    long n = -1;
    try {
      n = std::stol(v->second);
    } catch (const std::exception&) {
    }
    if (n < lo || n > hi) {
      std::cerr << "error: " << flag << ": \"" << v->second << "\" is not " << lo << "-" << hi
                << "\n";
      return kExitBadInput;
    }
    if (std::string_view(flag) == "--seed") {
      options.seed = static_cast<uint32_t>(n);
    } else {
      options.bpf_cost_ns = static_cast<uint32_t>(n);
    }
  }
  if (auto v = a.values.find("--verdict-cache"); v != a.values.end()) {
    if (v->second != "off" && v->second != "on" && v->second != "verify") {
      std::cerr << "error: --verdict-cache: \"" << v->second << "\" is not off, on or verify\n";
      return kExitBadInput;
    }
    options.verdict_cache = v->second;
  }
  if (backend == "netns" && !netnsBinaries(a, options)) return kExitBadInput;
  if (!a.flags.count("--quiet")) {
    options.progress = [](const std::string& line) { std::cerr << "sim: " << line << std::endl; };
  }
  if (backend == "netns") sim::installSignalCleanup();
  std::vector<sim::SimReport> reports;
  bool bad_input = false, failed = false;
  for (const auto& dir : a.paths) {
    model::Diagnostics diags;
    auto s = sim::loadScenario(dir, diags);
    printDiagnostics(diags);
    if (!s) {
      bad_input = true;
      continue;
    }
    if (a.cluster.name != "default" || a.cluster.id != 0) s->cluster = a.cluster;
    std::unique_ptr<sim::Backend> b = backend == "bpf"     ? sim::makeBpfBackend(options)
                                      : backend == "netns" ? sim::makeNetnsBackend(options)
                                      : backend == "ns3"   ? sim::makeNs3Backend(options)
                                                           : sim::makeModelBackend();
    sim::SimReport r = sim::runScenario(*s, *b, options);
    b.reset();  // tears the run's namespaces down before the next scenario
    printDiagnostics(r.diags);
    if (!r.diags.ok()) bad_input = true;
    if (!r.ok()) failed = true;
    if (a.output == "txt") sim::printReportText(r, std::cout);
    reports.push_back(std::move(r));
  }
  if (a.output == "json") sim::printReportJson(reports, std::cout);
  if (auto j = a.values.find("--junit"); j != a.values.end()) {
    std::ofstream junit(j->second);
    if (!junit) {
      std::cerr << "error: cannot write " << j->second << "\n";
      return kExitBadInput;
    }
    sim::printReportJunit(reports, junit);
  }
  if (bad_input) return kExitBadInput;
  return failed ? kExitFailed : kExitOk;
}

}  // namespace membrane::cmd
