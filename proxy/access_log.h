// SPDX-License-Identifier: Apache-2.0
// The access record as one JSON line (membrane-proxy's --access-log; the agent's
// l7FlowFromAccessRecord reads it back). Fields: docs/l7.md.
#pragma once

#include <string>

#include "proxy/http_proxy.h"

namespace membrane::proxy {

std::string accessRecordJson(const AccessRecord& r);

}  // namespace membrane::proxy
