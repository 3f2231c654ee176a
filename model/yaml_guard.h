// SPDX-License-Identifier: Apache-2.0
// A syntax check with libyaml before yaml-cpp builds the tree: yaml-cpp 0.7 (Debian 12)
// loops forever on some malformed inputs (for example a document starting with ",[*,"),
// libyaml reports them as errors. Inputs libyaml accepts but yaml-cpp reads differently
// (anchor or alias names glued to other characters) are refused here with a clear error.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>

#include "model/diagnostics.h"

namespace membrane::model {

std::optional<Diagnostic> checkYamlSyntax(const std::string& text, const std::string& file);

// One YAML document (membrane's own files: expect.yaml, scenario.yaml, invariants) through
// the syntax check, then yaml-cpp. Errors (with line and column) go to `diags`.
std::optional<YAML::Node> loadYamlDocument(const std::string& text, const std::string& file,
                                           Diagnostics& diags);
// The same for a file; a missing or unreadable file is an error.
std::optional<YAML::Node> loadYamlFile(const std::string& file, Diagnostics& diags);

}  // namespace membrane::model
