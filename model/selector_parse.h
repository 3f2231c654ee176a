// SPDX-License-Identifier: Apache-2.0
// Kubernetes label selectors (matchLabels + matchExpressions) from YAML, validated, with
// precise errors. Shared by policies (model/) and invariant files (verify/).
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>

#include "model/labels.h"
#include "model/yaml_util.h"

namespace membrane::model {

// Keys without a source get `k8s:`; `key_prefix` is prepended to every key (namespace
// selectors become io.cilium.k8s.namespace.labels.<key>). Errors go to ctx.
std::optional<LabelSelector> parseLabelSelector(const YamlCtx& ctx, const YAML::Node& n,
                                                const std::string& path,
                                                std::string_view key_prefix = "");

}  // namespace membrane::model
