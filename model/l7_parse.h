// SPDX-License-Identifier: Apache-2.0
// Internal to model/: decodes toPorts[].rules.http / .dns (and toFQDNs selectors) into the
// typed rules of model/l7.h, reporting bad regexes and names at file:line:column.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "model/l7.h"
#include "model/yaml_util.h"

namespace membrane::model {

// `list` is the rules.http sequence at `path`; `policy` ("CiliumNetworkPolicy ns/name")
// prefixes each rule's origin.
void parseHttpRules(const YamlCtx& ctx, const YAML::Node& list, const std::string& path,
                    const std::string& policy, std::vector<HttpRule>& out);
// rules.dns items and toFQDNs items: {matchName | matchPattern}.
void parseDnsRules(const YamlCtx& ctx, const YAML::Node& list, const std::string& path,
                   const std::string& policy, std::vector<DnsRule>& out);

}  // namespace membrane::model
