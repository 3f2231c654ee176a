// SPDX-License-Identifier: Apache-2.0
// The agent's side of the rules file: from the policy model, the L7 rules of every pod on a
// node, per (direction, port, remote identities), and the node's ipcache, as the JSON that
// proxy/rules.h parses (docs/l7.md). Pure: no I/O.
#pragma once

#include <functional>
#include <string>

#include "model/engine.h"

namespace membrane::proxy {

// Only TCP ports with HTTP rules are listed (DNS and other L7 types have no proxy yet and stay
// fail-closed in the datapath). A port range is listed port by port up to kMaxRangePorts.
inline constexpr uint32_t kMaxRangePorts = 1024;
// `translate` maps model identity numbers to the ones the datapath uses (the agent's
// dataplane::IdentityStabilizer); identity when empty.
using IdentityTranslate = std::function<model::IdentityId(model::IdentityId)>;
std::string buildRulesJson(const model::Engine& engine, const std::string& node,
                           const IdentityTranslate& translate = {});

}  // namespace membrane::proxy
