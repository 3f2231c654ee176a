// SPDX-License-Identifier: Apache-2.0
// Generators of the soundness properties of `scope: any` (soundness_test.cc, and the BPF
// variant soundness_bpf_test.cc): policies from tests/support/cluster_gen without its pods,
// pods that each have an identity of their own, and invariants as YAML, so a failing case
// prints as manifests plus an invariants file that a unit test can keep.
#pragma once

#include <rapidcheck.h>

#include <optional>
#include <string>

#include "model/loader.h"
#include "verify/verifier.h"

namespace membrane::verify::soundness {

struct Case {
  std::string base;  // policies and the verified pods
  std::string invariants;
  Invariant inv;
};

// pods named PREFIX0.. with addresses 10.0.<node>.<first_host + i>; prefix "c" may also
// declare the namespace qa with random labels.
rc::Gen<std::string> genPods(const std::string& prefix, int first_host, int min, int max);
// A case; logs (RC_LOG) its YAML so a failure prints the reproducer.
Case genCase();
model::LoadResult load(const std::string& yaml);

// The witness of a violated invariant as a concrete flow of `base` plus the witness pods
// (emit's witness.yaml); nullopt when the witness is not replayable as pods.
struct ConcreteWitness {
  model::LoadResult loaded;
  model::Flow flow;
};
std::optional<ConcreteWitness> concreteWitness(const Case& k, const model::Cluster& base,
                                               const InvariantResult& r);

}  // namespace membrane::verify::soundness
