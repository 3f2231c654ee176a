// SPDX-License-Identifier: Apache-2.0
// A counterexample is a regression test: each violated invariant becomes a scenario
// directory that `membrane sim` replays (docs/scenarios.md) and that fails, in every
// backend, exactly as the invariant did until the policy is fixed.
//
//   DIR/<invariant>/manifests.yaml  the manifests verify read, unchanged (fix the policy here)
//   DIR/<invariant>/witness.yaml    the witness pods made concrete (namespace and labels,
//                                   pod labels, container ports, an address, spec.nodeName)
//   DIR/<invariant>/expect.yaml     one step that applies witness.yaml and probes the
//                                   witness flow, expecting what the invariant DEMANDS
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "verify/verifier.h"

namespace membrane::verify {

struct EmittedScenario {
  std::string name;          // directory name (the invariant's name)
  std::string witness_yaml;  // witness.yaml
  std::string expect_yaml;   // expect.yaml
};

// The scenario of one violated invariant; nullopt with `why` when the witness cannot be
// replayed by `membrane sim` (an L7-restricted flow, an ICMP type other than echo request,
// a reserved identity other than host, an unresolved node).
std::optional<EmittedScenario> emittedScenario(const model::Cluster& c, const InvariantResult& r,
                                               std::string* why);

struct EmitReport {
  std::vector<std::string> written;  // directories
  std::vector<std::string> skipped;  // "invariant: why"
};

// Writes one directory per violated invariant under `dir` (created when missing);
// `manifest_files` are copied into each manifests.yaml in load order. False with `error`
// on an I/O failure.
bool emitScenarios(const std::string& dir, const model::Cluster& c,
                   const std::vector<std::string>& manifest_files,
                   const std::vector<InvariantResult>& rs, EmitReport& report, std::string* error);

}  // namespace membrane::verify
