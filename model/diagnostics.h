// SPDX-License-Identifier: Apache-2.0
// Errors as values: every user-facing problem names the file, line, column, the object
// (kind namespace/name), the field path and what was expected.
#pragma once

#include <string>
#include <variant>
#include <vector>

namespace membrane::model {

struct SourceLoc {
  std::string file;
  int line = 0;             // 1-based; 0 = unknown
  int column = 0;           // 1-based; 0 = unknown
  std::string str() const;  // "file:line:col"
};

struct Diagnostic {
  SourceLoc loc;
  std::string object;  // "CiliumNetworkPolicy default/db", may be empty
  std::string field;   // "spec.ingress[0].toPorts[0].ports[0].port", may be empty
  std::string message;
  // policies/db.yaml:14:9: CiliumNetworkPolicy default/db: spec.x: message
  std::string str() const;
};

// Collects errors and warnings so that one run reports all it can find.
class Diagnostics {
 public:
  void error(Diagnostic d) { errors_.push_back(std::move(d)); }
  void warning(Diagnostic d) { warnings_.push_back(std::move(d)); }
  bool ok() const { return errors_.empty(); }
  const std::vector<Diagnostic>& errors() const { return errors_; }
  const std::vector<Diagnostic>& warnings() const { return warnings_; }
  void merge(const Diagnostics& other);

 private:
  std::vector<Diagnostic> errors_;
  std::vector<Diagnostic> warnings_;
};

// A value or the diagnostic that explains why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT(google-explicit-constructor)
  Result(Diagnostic error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<T>(v_); }
  const T& value() const { return std::get<T>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Diagnostic& error() const { return std::get<Diagnostic>(v_); }

 private:
  std::variant<T, Diagnostic> v_;
};

}  // namespace membrane::model
