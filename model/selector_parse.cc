// SPDX-License-Identifier: Apache-2.0
#include "model/selector_parse.h"

namespace membrane::model {
namespace {

std::optional<Requirement> parseRequirement(const YamlCtx& ctx, const YAML::Node& n,
                                            const std::string& path, std::string_view source,
                                            std::string_view key_prefix) {
  ctx.checkKeys(n, path, {"key", "operator", "values"});
  auto key = ctx.str(n, "key", path);
  auto op = ctx.str(n, "operator", path);
  if (!key) {
    ctx.error(n, joinPath(path, "key"), "required field is missing");
    return std::nullopt;
  }
  if (!op) {
    ctx.error(n, joinPath(path, "operator"), "required field is missing");
    return std::nullopt;
  }
  Requirement r;
  auto [src, k] = splitLabelKey(*key, source);
  r.source = src;
  r.key = std::string(key_prefix) + k;
  if (*op == "In") {
    r.op = SelectorOp::In;
  } else if (*op == "NotIn") {
    r.op = SelectorOp::NotIn;
  } else if (*op == "Exists") {
    r.op = SelectorOp::Exists;
  } else if (*op == "DoesNotExist") {
    r.op = SelectorOp::DoesNotExist;
  } else {
    ctx.error(
        n["operator"], joinPath(path, "operator"),
        "\"" + *op + "\" is not a selector operator; expected In, NotIn, Exists or DoesNotExist");
    return std::nullopt;
  }
  YAML::Node vals = ctx.seq(n, "values", path);
  if (vals) {
    for (size_t i = 0; i < vals.size(); ++i) {
      std::string why;
      if (!vals[i].IsScalar()) {
        ctx.error(vals[i], indexPath(path, "values", i), "expected a string");
        return std::nullopt;
      }
      if (!validLabelValue(vals[i].Scalar(), &why)) {
        ctx.error(vals[i], indexPath(path, "values", i),
                  "invalid label value \"" + vals[i].Scalar() + "\": " + why);
        return std::nullopt;
      }
      r.values.push_back(vals[i].Scalar());
    }
  }
  const bool needs_values = r.op == SelectorOp::In || r.op == SelectorOp::NotIn;
  if (needs_values && r.values.empty()) {
    ctx.error(n, joinPath(path, "values"), "operator " + *op + " needs at least one value");
    return std::nullopt;
  }
  if (!needs_values && !r.values.empty()) {
    ctx.error(n["values"], joinPath(path, "values"), "operator " + *op + " takes no values");
    return std::nullopt;
  }
  return r;
}

// matchLabels + matchExpressions. `key_prefix` rewrites keys (namespace selectors).
}  // namespace

std::optional<LabelSelector> parseLabelSelector(const YamlCtx& ctx, const YAML::Node& n,
                                                const std::string& path,
                                                std::string_view key_prefix) {
  if (!n.IsMap()) {
    ctx.error(n, path, "expected a label selector (a map), got " + std::string(yamlTypeName(n)));
    return std::nullopt;
  }
  ctx.checkKeys(n, path, {"matchLabels", "matchExpressions"});
  LabelSelector sel;
  bool ok = true;
  YAML::Node ml = ctx.map(n, "matchLabels", path);
  if (ml) {
    for (const auto& kv : ml) {
      const std::string key = kv.first.Scalar();
      const std::string field = joinPath(joinPath(path, "matchLabels"), key);
      std::string why;
      auto [src, k] = splitLabelKey(key, kSourceK8s);
      if (!validLabelKey(k, &why)) {
        ctx.error(kv.first, field, "invalid label key \"" + key + "\": " + why);
        ok = false;
        continue;
      }
      if (!kv.second.IsScalar() && !kv.second.IsNull()) {
        ctx.error(kv.second, field, "expected a string label value");
        ok = false;
        continue;
      }
      std::string v = kv.second.IsNull() ? "" : kv.second.Scalar();
      if (!validLabelValue(v, &why)) {
        ctx.error(kv.second, field, "invalid label value \"" + v + "\": " + why);
        ok = false;
        continue;
      }
      sel.add(
          {.source = src, .key = std::string(key_prefix) + k, .op = SelectorOp::In, .values = {v}});
    }
  }
  YAML::Node me = ctx.seq(n, "matchExpressions", path);
  if (me) {
    for (size_t i = 0; i < me.size(); ++i) {
      auto r = parseRequirement(ctx, me[i], indexPath(path, "matchExpressions", i), kSourceK8s,
                                key_prefix);
      if (!r) {
        ok = false;
        continue;
      }
      sel.add(std::move(*r));
    }
  }
  if (!ok) return std::nullopt;
  return sel;
}

}  // namespace membrane::model
