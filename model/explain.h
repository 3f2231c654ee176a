// SPDX-License-Identifier: Apache-2.0
// Human-readable explanations of verdicts: which side decided, why, and the rules.
#pragma once

#include <string>

#include "model/engine.h"

namespace membrane::model {

std::string identityName(const Cluster& cluster, IdentityId id);  // "256 (ns/pod...)" or "world"
std::string explainSide(const Engine& engine, const SideDecision& d);
std::string explainVerdict(const Engine& engine, const Verdict& v);

}  // namespace membrane::model
