// SPDX-License-Identifier: Apache-2.0
#include "model/l7_parse.h"

#include <cctype>

namespace membrane::model {
namespace {

std::optional<AnchoredRegex> regexField(const YamlCtx& ctx, const YAML::Node& item, const char* key,
                                        const std::string& path, bool* ok) {
  auto s = ctx.str(item, key, path);
  if (!s || s->empty()) return std::nullopt;
  auto re = AnchoredRegex::compile(*s);
  if (!re) {
    ctx.error(item[key], joinPath(path, key), re.error().message);
    *ok = false;
    return std::nullopt;
  }
  return *re;
}

// RFC 7230 token characters: what a header name may contain.
bool isHeaderName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string::npos) {
      return false;
    }
  }
  return true;
}

// "X-Foo" (presence) or "X-Foo: bar" / "X-Foo bar" (exact value), as Cilium splits them.
void parseHeaderStrings(const YamlCtx& ctx, const YAML::Node& item, const std::string& path,
                        HttpRule& rule, bool* ok) {
  YAML::Node hs = ctx.seq(item, "headers", path);
  if (!hs) return;
  for (size_t i = 0; i < hs.size(); ++i) {
    const std::string hp = indexPath(path, "headers", i);
    if (!hs[i].IsScalar()) {
      ctx.error(hs[i], hp, "expected a header name (\"X-Foo\" or \"X-Foo: value\")");
      *ok = false;
      continue;
    }
    const std::string& s = hs[i].Scalar();
    HeaderMatch m;
    const size_t sp = s.find(' ');
    m.name = s.substr(0, sp);
    if (!m.name.empty() && m.name.back() == ':') m.name.pop_back();
    if (sp != std::string::npos) {
      std::string v = s.substr(sp + 1);
      v.erase(0, v.find_first_not_of(' '));
      m.value = v;
    }
    if (!isHeaderName(m.name)) {
      ctx.error(hs[i], hp, "\"" + m.name + "\" is not an HTTP header name");
      *ok = false;
      continue;
    }
    rule.headers.push_back(std::move(m));
  }
}

void parseHeaderMatches(const YamlCtx& ctx, const YAML::Node& item, const std::string& path,
                        HttpRule& rule, bool* ok) {
  YAML::Node hm = ctx.seq(item, "headerMatches", path);
  if (!hm) return;
  for (size_t i = 0; i < hm.size(); ++i) {
    const std::string hp = indexPath(path, "headerMatches", i);
    ctx.checkKeys(hm[i], hp, {"name", "value", "mismatch", "secret"});
    if (isPresent(hm[i]["secret"])) {
      // Values from Kubernetes secrets need an API server this tool does not read.
      ctx.error(hm[i]["secret"], joinPath(hp, "secret"),
                "header values from secrets are not supported; give value instead");
      *ok = false;
      continue;
    }
    auto mismatch = ctx.str(hm[i], "mismatch", hp);
    if (mismatch && !mismatch->empty()) {
      if (*mismatch != "LOG" && *mismatch != "ADD" && *mismatch != "DELETE" &&
          *mismatch != "REPLACE") {
        ctx.error(hm[i]["mismatch"], joinPath(hp, "mismatch"),
                  "expected one of LOG, ADD, DELETE, REPLACE or empty, got \"" + *mismatch + "\"");
        *ok = false;
        continue;
      }
      // Rewriting requests is not implemented: enforcing the match is stricter (fail closed).
      ctx.warning(hm[i]["mismatch"], joinPath(hp, "mismatch"),
                  "mismatch actions are not implemented: a request without the header value "
                  "is denied");
    }
    auto name = ctx.str(hm[i], "name", hp);
    if (!name || !isHeaderName(*name)) {
      ctx.error(
          name ? hm[i]["name"] : hm[i], joinPath(hp, "name"),
          name ? "\"" + *name + "\" is not an HTTP header name" : "required field is missing");
      *ok = false;
      continue;
    }
    HeaderMatch m{.name = *name};
    auto value = ctx.str(hm[i], "value", hp);
    if (value && !value->empty()) m.value = *value;
    rule.headers.push_back(std::move(m));
  }
}

}  // namespace

void parseHttpRules(const YamlCtx& ctx, const YAML::Node& list, const std::string& path,
                    const std::string& policy, std::vector<HttpRule>& out) {
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item_path = path + "[" + std::to_string(i) + "]";
    const YAML::Node& item = list[i];
    if (!item.IsMap()) {
      ctx.error(item, item_path,
                "expected an HTTP rule (a map), got " + std::string(yamlTypeName(item)));
      continue;
    }
    ctx.checkKeys(item, item_path, {"method", "path", "host", "headers", "headerMatches"});
    bool ok = true;
    HttpRule r{.origin = policy + " " + item_path, .loc = ctx.loc(item)};
    r.method = regexField(ctx, item, "method", item_path, &ok);
    r.path = regexField(ctx, item, "path", item_path, &ok);
    r.host = regexField(ctx, item, "host", item_path, &ok);
    parseHeaderStrings(ctx, item, item_path, r, &ok);
    parseHeaderMatches(ctx, item, item_path, r, &ok);
    if (ok) out.push_back(std::move(r));
  }
}

void parseDnsRules(const YamlCtx& ctx, const YAML::Node& list, const std::string& path,
                   const std::string& policy, std::vector<DnsRule>& out) {
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item_path = path + "[" + std::to_string(i) + "]";
    const YAML::Node& item = list[i];
    if (!item.IsMap()) {
      ctx.error(item, item_path,
                "expected {matchName} or {matchPattern}, got " + std::string(yamlTypeName(item)));
      continue;
    }
    ctx.checkKeys(item, item_path, {"matchName", "matchPattern"});
    auto name = ctx.str(item, "matchName", item_path);
    auto pattern = ctx.str(item, "matchPattern", item_path);
    const bool has_name = name && !name->empty();
    if (has_name == (pattern && !pattern->empty())) {
      ctx.error(item, item_path, "exactly one of matchName and matchPattern must be set");
      continue;
    }
    const char* key = has_name ? "matchName" : "matchPattern";
    const std::string& text = has_name ? *name : *pattern;
    const size_t bad = text.find_first_not_of(
        !has_name ? "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.*"
                  : "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.");
    if (bad != std::string::npos) {
      ctx.error(item[key], joinPath(item_path, key),
                "\"" + text + "\" has '" + std::string(1, text[bad]) +
                    "': expected letters, digits, '-', '_', '.'" + (has_name ? "" : " and '*'"));
      continue;
    }
    DnsRule r{.origin = policy + " " + item_path, .loc = ctx.loc(item)};
    if (has_name) {
      r.match_name = normalizeDnsName(*name);
    } else {
      r.match_pattern = normalizeDnsName(*pattern);
      auto re = AnchoredRegex::compile(dnsPatternToRegex(r.match_pattern));
      if (!re) {
        ctx.error(item[key], joinPath(item_path, key), re.error().message);
        continue;
      }
      r.pattern_re = *re;
    }
    out.push_back(std::move(r));
  }
}

}  // namespace membrane::model
