// SPDX-License-Identifier: Apache-2.0
#include "proxy/rules.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace membrane::proxy {
namespace {

using nlohmann::json;

constexpr uint32_t kIdentityWorld = 2;

// A parse failure at a JSON path; thrown inside this file only, returned as a Diagnostic.
struct FieldError {
  std::string field;
  std::string message;
};

const json& need(const json& j, const char* key, const std::string& path, json::value_t type,
                 const char* what) {
  const std::string field = path.empty() ? key : path + "." + key;
  if (!j.contains(key)) throw FieldError{field, "required field is missing"};
  const json& v = j.at(key);
  const bool ok =
      type == json::value_t::number_unsigned ? v.is_number_unsigned() : v.type() == type;
  if (!ok) throw FieldError{field, std::string("expected ") + what + ", got " + v.type_name()};
  return v;
}

std::string optString(const json& j, const char* key, const std::string& path) {
  if (!j.contains(key) || j.at(key).is_null()) return "";
  if (!j.at(key).is_string()) throw FieldError{path + "." + key, "expected a string"};
  return j.at(key).get<std::string>();
}

std::optional<model::AnchoredRegex> optRegex(const json& j, const char* key,
                                             const std::string& path) {
  const std::string s = optString(j, key, path);
  if (s.empty()) return std::nullopt;
  auto re = model::AnchoredRegex::compile(s);
  if (!re) throw FieldError{path + "." + key, re.error().message};
  return *re;
}

model::HttpRule parseHttpRule(const json& j, const std::string& path) {
  if (!j.is_object()) throw FieldError{path, "expected an object"};
  model::HttpRule r;
  r.method = optRegex(j, "method", path);
  r.path = optRegex(j, "path", path);
  r.host = optRegex(j, "host", path);
  r.origin = optString(j, "origin", path);
  if (j.contains("headers")) {
    const json& hs = need(j, "headers", path, json::value_t::array, "a list");
    for (size_t i = 0; i < hs.size(); ++i) {
      const std::string hp = path + ".headers[" + std::to_string(i) + "]";
      if (!hs[i].is_object()) throw FieldError{hp, "expected {name, value?}"};
      model::HeaderMatch m{.name = need(hs[i], "name", hp, json::value_t::string, "a string")};
      if (m.name.empty()) throw FieldError{hp + ".name", "expected a header name"};
      if (hs[i].contains("value") && !hs[i].at("value").is_null()) {
        m.value = need(hs[i], "value", hp, json::value_t::string, "a string");
      }
      r.headers.push_back(std::move(m));
    }
  }
  return r;
}

model::Ipv4 parseAddr(const json& j, const char* key, const std::string& path) {
  const std::string s = need(j, key, path, json::value_t::string, "an IPv4 address");
  auto ip = model::parseIpv4(s);
  if (!ip) throw FieldError{path + "." + key, "\"" + s + "\" is not an IPv4 address"};
  return *ip;
}

RuleEntry parseEntry(const json& j, const std::string& path) {
  if (!j.is_object()) throw FieldError{path, "expected an object"};
  RuleEntry e;
  e.endpoint = parseAddr(j, "endpoint", path);
  const std::string dir = need(j, "direction", path, json::value_t::string, "a string");
  if (dir != "ingress" && dir != "egress") {
    throw FieldError{path + ".direction", "expected ingress or egress, got \"" + dir + "\""};
  }
  e.direction = dir == "ingress" ? L7Direction::Ingress : L7Direction::Egress;
  const uint64_t port =
      need(j, "port", path, json::value_t::number_unsigned, "a port number").get<uint64_t>();
  if (port == 0 || port > 65535) throw FieldError{path + ".port", "expected 1-65535"};
  e.port = static_cast<uint16_t>(port);
  if (j.contains("remote_identities")) {
    for (const json& id : need(j, "remote_identities", path, json::value_t::array, "a list")) {
      if (!id.is_number_unsigned() || id.get<uint64_t>() > UINT32_MAX) {
        throw FieldError{path + ".remote_identities", "expected identity numbers"};
      }
      e.remote_identities.push_back(id.get<uint32_t>());
    }
  }
  if (j.contains("wildcard")) {
    e.http.wildcard = need(j, "wildcard", path, json::value_t::boolean, "true or false");
  }
  if (j.contains("http")) {
    const json& hs = need(j, "http", path, json::value_t::array, "a list");
    for (size_t i = 0; i < hs.size(); ++i) {
      e.http.rules.push_back(parseHttpRule(hs[i], path + ".http[" + std::to_string(i) + "]"));
    }
  }
  return e;
}

void parseIpcache(const json& root, RuleTable& t) {
  if (!root.contains("ipcache")) return;
  const json& ic = need(root, "ipcache", "", json::value_t::array, "a list");
  for (size_t i = 0; i < ic.size(); ++i) {
    const std::string p = "ipcache[" + std::to_string(i) + "]";
    if (!ic[i].is_object()) throw FieldError{p, "expected {cidr, identity}"};
    const std::string s = need(ic[i], "cidr", p, json::value_t::string, "a CIDR");
    std::string why;
    auto c = model::parseCidr(s, &why);
    if (!c || c->ipv6) throw FieldError{p + ".cidr", "\"" + s + "\" is not an IPv4 CIDR " + why};
    const uint64_t id =
        need(ic[i], "identity", p, json::value_t::number_unsigned, "an identity number");
    if (id > UINT32_MAX) throw FieldError{p + ".identity", "expected a 32-bit identity"};
    t.ipcache_.emplace_back(*c, static_cast<uint32_t>(id));
  }
  std::stable_sort(t.ipcache_.begin(), t.ipcache_.end(),
                   [](const auto& a, const auto& b) { return a.first.len > b.first.len; });
}

}  // namespace

bool RuleTable::lookup(model::Ipv4 endpoint, L7Direction dir, uint32_t remote, uint16_t port,
                       model::HttpPolicy* out) const {
  bool found = false;
  for (const RuleEntry& e : entries_) {
    if (e.endpoint != endpoint || e.direction != dir || e.port != port) continue;
    if (!e.remote_identities.empty() &&
        std::find(e.remote_identities.begin(), e.remote_identities.end(), remote) ==
            e.remote_identities.end()) {
      continue;
    }
    found = true;
    out->wildcard |= e.http.wildcard;
    out->rules.insert(out->rules.end(), e.http.rules.begin(), e.http.rules.end());
  }
  return found;
}

uint32_t RuleTable::identityOf(model::Ipv4 ip) const {
  for (const auto& [cidr, id] : ipcache_) {
    if (cidr.contains(ip)) return id;
  }
  return kIdentityWorld;
}

bool RuleTable::hasEndpoint(model::Ipv4 ip, L7Direction dir) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const RuleEntry& e) { return e.endpoint == ip && e.direction == dir; });
}

model::Result<std::shared_ptr<const RuleTable>> parseRuleTable(const std::string& text,
                                                               const std::string& file) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    return model::Diagnostic{.loc = {.file = file}, .message = e.what()};
  }
  auto t = std::make_shared<RuleTable>();
  try {
    if (!root.is_object()) throw FieldError{"", "expected an object {version, ipcache, entries}"};
    const uint64_t version =
        need(root, "version", "", json::value_t::number_unsigned, "1").get<uint64_t>();
    if (version != 1) throw FieldError{"version", "expected 1, got " + std::to_string(version)};
    parseIpcache(root, *t);
    if (root.contains("entries")) {
      const json& es = need(root, "entries", "", json::value_t::array, "a list");
      for (size_t i = 0; i < es.size(); ++i) {
        t->entries_.push_back(parseEntry(es[i], "entries[" + std::to_string(i) + "]"));
      }
    }
  } catch (const FieldError& e) {
    return model::Diagnostic{.loc = {.file = file}, .field = e.field, .message = e.message};
  }
  return std::shared_ptr<const RuleTable>(std::move(t));
}

model::Result<std::shared_ptr<const RuleTable>> loadRuleTable(const std::string& file) {
  std::ifstream in(file);
  if (!in) return model::Diagnostic{.loc = {.file = file}, .message = "cannot open the file"};
  std::stringstream ss;
  ss << in.rdbuf();
  return parseRuleTable(ss.str(), file);
}

}  // namespace membrane::proxy
