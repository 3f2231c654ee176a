// SPDX-License-Identifier: Apache-2.0
// Human-readable explanations of verdicts: which side decided, why, and the rules.
#pragma once

#include <string>

#include "model/engine.h"

namespace membrane::model {

std::string identityName(const Cluster& cluster, IdentityId id);  // "256 (ns/pod...)" or "world"
std::string explainSide(const Engine& engine, const SideDecision& d);
std::string explainVerdict(const Engine& engine, const Verdict& v);
// "ALLOWED", "L7-RESTRICTED" or "DENIED".
std::string_view verdictWord(const Verdict& v);
// "http (2 rules) in CiliumNetworkPolicy ns/name (file:line:col)"
std::string describeL7(const L7Restriction& l);

}  // namespace membrane::model
