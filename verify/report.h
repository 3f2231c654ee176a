// SPDX-License-Identifier: Apache-2.0
// Reports of `membrane verify`: text, JSON and JUnit XML (one test case per invariant).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "verify/verifier.h"

namespace membrane::verify {

void printText(std::ostream& out, const model::Cluster& c, const std::vector<InvariantResult>& rs);
void printJson(std::ostream& out, const model::Cluster& c, const std::vector<InvariantResult>& rs,
               const CompiledResult* compiled);
void printJunit(std::ostream& out, const model::Cluster& c, const std::vector<InvariantResult>& rs,
                const CompiledResult* compiled, const std::string& suite);
void printCompiledText(std::ostream& out, const model::Cluster& c, const CompiledResult& r);

// membrane verify's exit codes (cmd/common.h has the same numbers for every command).
inline constexpr int kVerifyExitOk = 0;
inline constexpr int kVerifyExitFailed = 1;    // an invariant is violated (or vacuous)
inline constexpr int kVerifyExitUnknown = 3;   // the solver answered unknown
inline constexpr int kVerifyExitInternal = 4;  // the encoding, the engine or compile() disagree
// 4 beats 1 beats 3: a disagreement means no answer of this run can be trusted; a proven
// failure is a stronger statement than a timeout.
int exitCode(const std::vector<InvariantResult>& rs, const CompiledResult* compiled);

std::string jsonEscape(std::string_view s);
std::string xmlEscape(std::string_view s);

}  // namespace membrane::verify
