// SPDX-License-Identifier: Apache-2.0
#include "model/diagnostics.h"

namespace membrane::model {

std::string SourceLoc::str() const {
  std::string s = file.empty() ? "<input>" : file;
  if (line > 0) {
    s += ":" + std::to_string(line);
    if (column > 0) s += ":" + std::to_string(column);
  }
  return s;
}

std::string Diagnostic::str() const {
  std::string s = loc.str() + ": ";
  if (!object.empty()) s += object + ": ";
  if (!field.empty()) s += field + ": ";
  s += message;
  return s;
}

void Diagnostics::merge(const Diagnostics& other) {
  errors_.insert(errors_.end(), other.errors_.begin(), other.errors_.end());
  warnings_.insert(warnings_.end(), other.warnings_.begin(), other.warnings_.end());
}

}  // namespace membrane::model
