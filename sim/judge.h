// SPDX-License-Identifier: Apache-2.0
// The verifier's part of `membrane sim`'s judgement: a scenario's invariants proven on the
// cluster of each step (the same proof as `membrane verify --invariants`).
#pragma once

#include <vector>

#include "sim/sim.h"
#include "verify/invariants.h"

namespace membrane::sim {

// Proves every invariant of `file` on `cluster` (the cluster of step `step`). An invariant
// that names a pod that does not exist is unusable input (an error in `diags`).
std::vector<InvariantCheck> proveInvariants(const verify::InvariantFile& file, size_t step,
                                            const model::Cluster& cluster,
                                            model::Diagnostics& diags);

}  // namespace membrane::sim
