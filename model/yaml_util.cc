// SPDX-License-Identifier: Apache-2.0
#include "model/yaml_util.h"

#include <algorithm>
#include <charconv>

namespace membrane::model {

std::string joinPath(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return std::string(path) + "." + std::string(key);
}

std::string indexPath(std::string_view path, std::string_view key, size_t i) {
  return joinPath(path, key) + "[" + std::to_string(i) + "]";
}

bool isPresent(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

std::string_view yamlTypeName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "null";
    default:
      return "nothing";
  }
}

SourceLoc YamlCtx::loc(const YAML::Node& n) const {
  SourceLoc l{.file = file_};
  if (n.IsDefined()) {
    auto m = n.Mark();
    if (m.line >= 0) {
      l.line = m.line + 1;
      l.column = m.column + 1;
    }
  }
  return l;
}

void YamlCtx::error(const YAML::Node& at, std::string_view path, std::string message) const {
  diags_->error({.loc = loc(at),
                 .object = object_,
                 .field = std::string(path),
                 .message = std::move(message)});
}

void YamlCtx::warning(const YAML::Node& at, std::string_view path, std::string message) const {
  diags_->warning({.loc = loc(at),
                   .object = object_,
                   .field = std::string(path),
                   .message = std::move(message)});
}

std::optional<std::string> YamlCtx::str(const YAML::Node& parent, const char* key,
                                        std::string_view path) const {
  if (!parent.IsMap()) return std::nullopt;
  YAML::Node n = parent[key];
  if (!isPresent(n)) return std::nullopt;
  if (!n.IsScalar()) {
    error(n, joinPath(path, key), "expected a string, got " + std::string(yamlTypeName(n)));
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<int64_t> YamlCtx::integer(const YAML::Node& parent, const char* key,
                                        std::string_view path, int64_t min, int64_t max) const {
  if (!parent.IsMap()) return std::nullopt;
  YAML::Node n = parent[key];
  if (!isPresent(n)) return std::nullopt;
  const std::string field = joinPath(path, key);
  if (!n.IsScalar()) {
    error(n, field, "expected an integer, got " + std::string(yamlTypeName(n)));
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    error(n, field, "\"" + s + "\" is not an integer");
    return std::nullopt;
  }
  if (v < min || v > max) {
    error(n, field,
          std::to_string(v) + " is out of range [" + std::to_string(min) + ", " +
              std::to_string(max) + "]");
    return std::nullopt;
  }
  return v;
}

std::optional<bool> YamlCtx::boolean(const YAML::Node& parent, const char* key,
                                     std::string_view path) const {
  if (!parent.IsMap()) return std::nullopt;
  YAML::Node n = parent[key];
  if (!isPresent(n)) return std::nullopt;
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  error(n, joinPath(path, key), "expected true or false");
  return std::nullopt;
}

YAML::Node YamlCtx::map(const YAML::Node& parent, const char* key, std::string_view path) const {
  if (!parent.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  YAML::Node n = parent[key];
  if (!isPresent(n)) return YAML::Node(YAML::NodeType::Undefined);
  if (!n.IsMap()) {
    error(n, joinPath(path, key), "expected a map, got " + std::string(yamlTypeName(n)));
    return YAML::Node(YAML::NodeType::Undefined);
  }
  return n;
}

YAML::Node YamlCtx::seq(const YAML::Node& parent, const char* key, std::string_view path) const {
  if (!parent.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  YAML::Node n = parent[key];
  if (!isPresent(n)) return YAML::Node(YAML::NodeType::Undefined);
  if (!n.IsSequence()) {
    error(n, joinPath(path, key), "expected a list, got " + std::string(yamlTypeName(n)));
    return YAML::Node(YAML::NodeType::Undefined);
  }
  return n;
}

void YamlCtx::checkKeys(const YAML::Node& node, std::string_view path,
                        std::initializer_list<std::string_view> allowed) const {
  if (!node.IsMap()) return;
  for (const auto& kv : node) {
    const std::string k = kv.first.IsScalar() ? kv.first.Scalar() : "?";
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      std::string expected;
      for (auto a : allowed) expected += (expected.empty() ? "" : ", ") + std::string(a);
      error(kv.first, joinPath(path, k), "unknown field; expected one of: " + expected);
    }
  }
}

}  // namespace membrane::model
