// SPDX-License-Identifier: Apache-2.0
// A syntax check with libyaml before yaml-cpp builds the tree: yaml-cpp 0.7 (Debian 12)
// loops forever on some malformed inputs (for example a document starting with ",[*,"),
// libyaml reports them as errors. Inputs libyaml accepts but yaml-cpp reads differently
// (anchor or alias names glued to other characters) are refused here with a clear error.
#pragma once

#include <optional>
#include <string>

#include "model/diagnostics.h"

namespace membrane::model {

std::optional<Diagnostic> checkYamlSyntax(const std::string& text, const std::string& file);

}  // namespace membrane::model
