// SPDX-License-Identifier: Apache-2.0
#include "sim/sim.h"
namespace membrane::sim {
std::unique_ptr<Backend> makeNetnsBackend(const SimOptions&) { return makeModelBackend(); }
}  // namespace membrane::sim
