// SPDX-License-Identifier: Apache-2.0
#include "dataplane/result.h"

#include <cstring>

namespace membrane::dataplane {

std::string Error::message() const {
  if (code == 0) return context;
  return context + ": " + std::strerror(code);
}

Error errnoError(int code, std::string context) {
  return Error{.code = code < 0 ? -code : code, .context = std::move(context)};
}

}  // namespace membrane::dataplane
