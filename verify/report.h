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

std::string jsonEscape(std::string_view s);
std::string xmlEscape(std::string_view s);

}  // namespace membrane::verify
