// SPDX-License-Identifier: Apache-2.0
// Performance properties (scenario.yaml `properties`): judged against the flows the ns3
// backend measured, printed as measured vs bound (text, JSON, JUnit).
#pragma once

#include <ostream>

#include "sim/sim.h"

namespace membrane::sim {

// "2.50ms", "180us", "950ns"; "1.20Gbps", "35.0Mbps"; "0.50%".
std::string formatNs(double ns);
std::string formatBps(double bps);

void printPropertiesText(const SimReport& r, std::ostream& out);
// `,\n  "flows": [...],\n  "properties": [...]` (appended inside the scenario's object).
void printPropertiesJson(const SimReport& r, std::ostream& out);

}  // namespace membrane::sim
