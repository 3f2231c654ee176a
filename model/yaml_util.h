// SPDX-License-Identifier: Apache-2.0
// Typed access to YAML nodes that reports precise errors (file:line:col, object, field).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "model/diagnostics.h"

namespace membrane::model {

// Where decoding happens: the file, the object being decoded and the sink for errors.
class YamlCtx {
 public:
  YamlCtx(std::string file, std::string object, Diagnostics* diags)
      : file_(std::move(file)), object_(std::move(object)), diags_(diags) {}

  SourceLoc loc(const YAML::Node& n) const;
  void error(const YAML::Node& at, std::string_view path, std::string message) const;
  void warning(const YAML::Node& at, std::string_view path, std::string message) const;
  const std::string& file() const { return file_; }
  const std::string& object() const { return object_; }
  void setObject(std::string o) { object_ = std::move(o); }
  Diagnostics* diags() const { return diags_; }

  // Field accessors. `parent` is a map; `path` names the parent ("spec.ingress[0]").
  // Absent (or null) fields give nullopt without an error; wrong types give an error.
  std::optional<std::string> str(const YAML::Node& parent, const char* key,
                                 std::string_view path) const;
  std::optional<int64_t> integer(const YAML::Node& parent, const char* key, std::string_view path,
                                 int64_t min, int64_t max) const;
  std::optional<bool> boolean(const YAML::Node& parent, const char* key,
                              std::string_view path) const;
  // The child if it is a map/sequence; an error when present with another type.
  YAML::Node map(const YAML::Node& parent, const char* key, std::string_view path) const;
  YAML::Node seq(const YAML::Node& parent, const char* key, std::string_view path) const;
  // Reports every key of `node` that is not in `allowed` as an unknown field.
  void checkKeys(const YAML::Node& node, std::string_view path,
                 std::initializer_list<std::string_view> allowed) const;

 private:
  std::string file_;
  std::string object_;
  Diagnostics* diags_;
};

std::string joinPath(std::string_view path, std::string_view key);
std::string indexPath(std::string_view path, std::string_view key, size_t i);
bool isPresent(const YAML::Node& n);
std::string_view yamlTypeName(const YAML::Node& n);

}  // namespace membrane::model
