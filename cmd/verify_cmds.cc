// SPDX-License-Identifier: Apache-2.0
// membrane verify | diff | lint
#include <charconv>
#include <fstream>
#include <iostream>

#include "cmd/args.h"
#include "model/connectivity.h"
#include "verify/diff.h"
#include "verify/emit.h"
#include "verify/l7_diff.h"
#include "verify/lint.h"
#include "verify/report.h"
#include "verify/service_diff.h"
#include "verify/verifier.h"

namespace membrane::cmd {
namespace {

static_assert(verify::kVerifyExitOk == kExitOk && verify::kVerifyExitFailed == kExitFailed &&
              verify::kVerifyExitUnknown == kExitUnknown &&
              verify::kVerifyExitInternal == kExitInternal);

constexpr const char* kVerifyHelp =
    "membrane verify PATH... [--invariants FILE] [--check-compiled] [--junit OUT.xml]\n"
    "                [--timeout MS] [-o txt|json] [--emit-scenario DIR]\n"
    "  Prove the invariants of FILE for every pod that could exist (scope: any) or for today's\n"
    "  pods (scope: existing); each failure prints a witness flow and the deciding rules.\n"
    "  --check-compiled proves that each endpoint's compiled map state gives the rules'\n"
    "  verdict for every peer identity, protocol and port.\n"
    "  --emit-scenario DIR writes each violated invariant as a scenario DIR/<invariant>/ for\n"
    "  `membrane sim` (the manifests, the witness pods, a probe expecting what the invariant\n"
    "  demands): it fails as the invariant did until the policy is fixed.\n"
    "  An invariant with to: {service: NS/NAME} is proved once per ready backend of the\n"
    "  Service, at that backend's target ports (name <invariant>@<ns>.<pod>).\n"
    "  An invariant with http: {method, path, host, headers} is about that HTTP request on TCP\n"
    "  flows: L7-restricted flows are answered as the L7 proxy would answer the request.\n"
    "  Exit: 0 all hold, 1 one fails, 2 unusable input, 3 the solver answered unknown,\n"
    "  4 internal error: the SMT encoding and model::Engine (or the compiled map state)\n"
    "  disagree; both answers are printed.";

bool parseTimeout(const Args& a, unsigned& out) {
  auto it = a.values.find("--timeout");
  if (it == a.values.end()) return true;
  const std::string& v = it->second;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size() || out == 0) {
    std::cerr << "error: --timeout: \"" << v << "\" is not a positive number of milliseconds\n";
    return false;
  }
  return true;
}

constexpr const char* kDiffHelp =
    "membrane diff OLD NEW [-o txt|json] [--npguard] [--exit-code]\n"
    "  Connections between today's workloads and external ranges that the change from OLD to\n"
    "  NEW (files or directories of manifests) adds, removes or changes, in np-guard's diff\n"
    "  format; -o json adds one witness flow per entry. --npguard restricts to np-guard's\n"
    "  universe (TCP/UDP/SCTP ports 1-65535). --exit-code: exit 1 when there are differences.\n"
    "  Then (not with --npguard) \"Service diff:\": per client workload and Service port, the\n"
    "  backends (pod, address, target port) newly allowed or newly denied, from a policy,\n"
    "  Service, EndpointSlice or pod change; in JSON the \"services\" list.\n"
    "  Then \"L7 diff:\": per workload pair, port of an L7 rule and side, the HTTP/DNS rules in\n"
    "  force before and after when they differ (a changed path, a plain allow that turns the\n"
    "  rules into a wildcard); in JSON the \"l7\" list.";

constexpr const char* kLintHelp =
    "membrane lint PATH... [--timeout MS]\n"
    "  Rules that can never match, allow rules shadowed by deny rules or made redundant by\n"
    "  other rules (proven for every pod that could exist), subjects and peers that select\n"
    "  nothing today, equivalent policies, and HTTP rules that restrict nothing because a\n"
    "  plain L3/L4 allow covers every flow they match (l7-shadowed). Exit 1 when there are\n"
    "  findings.";

// Proves every invariant of the file; false when one names a pod that does not exist
// (unusable input, not "unknown").
bool checkAll(verify::Verifier& verifier, const verify::InvariantFile& file,
              std::vector<verify::InvariantResult>& results) {
  bool ok = true;
  for (const auto& inv : file.invariants) {
    results.push_back(verifier.check(inv));
    if (results.back().outcome == verify::Outcome::Unknown &&
        results.back().reason.find("does not exist") != std::string::npos) {
      std::cerr << "error: " << file.path << ":" << inv.loc.line << ": invariant " << inv.name
                << ": " << results.back().reason << "\n";
      ok = false;
    }
  }
  return ok;
}

bool emitScenarios(Args& a, const model::Cluster& c,
                   const std::vector<verify::InvariantResult>& results) {
  model::Diagnostics diags;
  const auto files = model::collectManifestFiles(a.paths, diags);
  verify::EmitReport report;
  std::string error;
  if (!diags.ok() ||
      !verify::emitScenarios(a.values["--emit-scenario"], c, files, results, report, &error)) {
    printDiagnostics(diags);
    std::cerr << "error: --emit-scenario: " << error << "\n";
    return false;
  }
  for (const auto& d : report.written) std::cerr << "wrote scenario " << d << "\n";
  for (const auto& s : report.skipped) std::cerr << "no scenario for " << s << "\n";
  return true;
}

}  // namespace

int cmdVerify(int argc, char** argv) {
  Args a;
  if (!a.parse(argc, argv,
               {"--invariants=", "--junit=", "--timeout=", "--check-compiled", "--emit-scenario="},
               kVerifyHelp)) {
    return a.exit_code;
  }
  const bool compiled = a.flags.count("--check-compiled") > 0;
  if (!a.values.count("--invariants") && !compiled) {
    std::cerr << "error: nothing to verify: give --invariants FILE and/or --check-compiled\n";
    return kExitBadInput;
  }
  if (a.output != "txt" && a.output != "json") {
    std::cerr << "error: -o: expected txt or json\n";
    return kExitBadInput;
  }
  verify::VerifyOptions opts;
  if (!parseTimeout(a, opts.timeout_ms)) return kExitBadInput;
  auto loaded = model::loadCluster(a.paths, a.cluster);
  model::Diagnostics diags = loaded.diags;
  verify::InvariantFile file;
  if (a.values.count("--invariants"))
    file = verify::loadInvariants(a.values["--invariants"], diags);
  if (diags.ok()) verify::expandServiceInvariants(loaded.cluster, file, diags);
  printDiagnostics(diags);
  if (!diags.ok()) return kExitBadInput;

  verify::Verifier verifier(loaded.cluster, opts);
  std::vector<verify::InvariantResult> results;
  if (!checkAll(verifier, file, results)) return kExitBadInput;
  std::optional<verify::CompiledResult> cr;
  if (compiled) cr = verifier.checkCompiled();

  if (a.output == "json") {
    verify::printJson(std::cout, loaded.cluster, results, cr ? &*cr : nullptr);
  } else {
    if (!results.empty()) verify::printText(std::cout, loaded.cluster, results);
    if (cr) verify::printCompiledText(std::cout, loaded.cluster, *cr);
  }
  if (a.values.count("--junit")) {
    std::ofstream junit(a.values["--junit"]);
    if (!junit) {
      std::cerr << "error: cannot write " << a.values["--junit"] << "\n";
      return kExitBadInput;
    }
    verify::printJunit(junit, loaded.cluster, results, cr ? &*cr : nullptr,
                       file.path.empty() ? "check-compiled" : file.path);
  }
  if (a.values.count("--emit-scenario") && !emitScenarios(a, loaded.cluster, results)) {
    return kExitBadInput;
  }
  return verify::exitCode(results, cr ? &*cr : nullptr);
}

}  // namespace membrane::cmd

namespace membrane::cmd {

int cmdDiff(int argc, char** argv) {
  Args a;
  if (!a.parse(argc, argv, {"--npguard", "--exit-code"}, kDiffHelp)) return a.exit_code;
  if (a.paths.size() != 2) {
    std::cerr << "error: membrane diff takes exactly two paths, OLD and NEW\n";
    return kExitBadInput;
  }
  if (a.output != "txt" && a.output != "json") {
    std::cerr << "error: -o: expected txt or json\n";
    return kExitBadInput;
  }
  auto old_c = model::loadCluster({a.paths[0]}, a.cluster);
  auto new_c = model::loadCluster({a.paths[1]}, a.cluster);
  printDiagnostics(old_c.diags);
  printDiagnostics(new_c.diags);
  if (!old_c.diags.ok() || !new_c.diags.ok()) return kExitBadInput;
  const model::Engine e1(old_c.cluster);
  const model::Engine e2(new_c.cluster);
  const auto d = verify::diffConnectivity(old_c.cluster, model::computeConnectivity(e1),
                                          new_c.cluster, model::computeConnectivity(e2),
                                          {.npguard_universe = a.flags.count("--npguard") > 0});
  // np-guard knows no Services: --npguard keeps its output to the connectivity diff.
  const bool npguard = a.flags.count("--npguard") > 0;
  std::vector<verify::ServiceDiffEntry> sd;
  std::vector<verify::L7DiffEntry> l7;
  if (!npguard) {
    sd = verify::diffServices(e1, e2);
    l7 = verify::diffL7(e1, e2);
  }
  if (a.output == "json") {
    verify::printDiffJson(std::cout, d, npguard ? nullptr : &sd, npguard ? nullptr : &l7);
  } else {
    verify::printDiffText(std::cout, d);
    verify::printServiceDiffText(std::cout, sd);
    verify::printL7DiffText(std::cout, l7);
  }
  const bool same = d.empty() && sd.empty() && l7.empty();
  return a.flags.count("--exit-code") && !same ? kExitFailed : kExitOk;
}

int cmdLint(int argc, char** argv) {
  Args a;
  if (!a.parse(argc, argv, {"--timeout="}, kLintHelp)) return a.exit_code;
  verify::LintOptions opts;
  if (!parseTimeout(a, opts.timeout_ms)) return kExitBadInput;
  auto loaded = model::loadCluster(a.paths, a.cluster);
  printDiagnostics(loaded.diags);
  if (!loaded.diags.ok()) return kExitBadInput;
  const auto findings = verify::lint(loaded.cluster, opts);
  verify::printLint(std::cout, loaded.cluster, findings);
  for (const auto& f : findings) {
    if (f.kind == verify::LintKind::Unknown) return kExitUnknown;
  }
  return findings.empty() ? kExitOk : kExitFailed;
}

}  // namespace membrane::cmd
