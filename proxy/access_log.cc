// SPDX-License-Identifier: Apache-2.0
#include "proxy/access_log.h"

#include <nlohmann/json.hpp>

namespace membrane::proxy {

std::string accessRecordJson(const AccessRecord& r) {
  nlohmann::json j{{"time_unix_ns", r.time_unix_ns},
                   {"source", r.source},
                   {"destination", r.destination},
                   {"source_identity", r.source_identity},
                   {"destination_identity", r.destination_identity},
                   {"method", r.method},
                   {"url", r.url},
                   {"protocol", r.protocol},
                   {"code", r.code},
                   {"verdict", r.verdict},
                   {"rule", r.rule},
                   {"latency_ns", r.latency_ns}};
  return j.dump();
}

}  // namespace membrane::proxy
