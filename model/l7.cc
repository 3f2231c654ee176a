// SPDX-License-Identifier: Apache-2.0
#include "model/l7.h"

#include <regex.h>
#include <strings.h>

#include <algorithm>
#include <cctype>

namespace membrane::model {

struct AnchoredRegex::Compiled {
  regex_t re{};
  Compiled() = default;
  Compiled(const Compiled&) = delete;
  Compiled& operator=(const Compiled&) = delete;
  ~Compiled() { regfree(&re); }
};

namespace {

std::string regcompError(int code, const regex_t* re) {
  char buf[256];
  regerror(code, re, buf, sizeof buf);
  return buf;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

Result<AnchoredRegex> AnchoredRegex::compile(const std::string& pattern) {
  // Validate the pattern alone first: wrapping "a)|(b" in ^(...)$ would turn an invalid
  // pattern into a valid one with another meaning.
  {
    Compiled probe;
    int rc = regcomp(&probe.re, pattern.c_str(), REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
      std::string msg = regcompError(rc, &probe.re);
      return Diagnostic{.message = "\"" + pattern + "\" is not a POSIX extended regex: " + msg};
    }
  }
  auto c = std::make_shared<Compiled>();
  const std::string anchored = "^(" + pattern + ")$";
  int rc = regcomp(&c->re, anchored.c_str(), REG_EXTENDED | REG_NOSUB);
  if (rc != 0) {
    return Diagnostic{.message = "\"" + pattern +
                                 "\" is not a POSIX extended regex: " + regcompError(rc, &c->re)};
  }
  AnchoredRegex r;
  r.pattern_ = pattern;
  r.re_ = std::move(c);
  return r;
}

bool AnchoredRegex::matches(std::string_view s) const {
  // regexec needs a NUL-terminated string; an embedded NUL never matches a rule (fail closed).
  if (s.find('\0') != std::string_view::npos) return false;
  const std::string str(s);
  return regexec(&re_->re, str.c_str(), 0, nullptr, 0) == 0;
}

std::string HeaderMatch::str() const { return value ? name + ": " + *value : name; }

std::string HttpRule::str() const {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : " ") + part; };
  if (method) add("method=" + method->pattern());
  if (path) add("path=" + path->pattern());
  if (host) add("host=" + host->pattern());
  for (const auto& h : headers) add("header[" + h.str() + "]");
  return s.empty() ? "any request" : s;
}

std::string DnsRule::str() const {
  return match_name.empty() ? "matchPattern=" + match_pattern : "matchName=" + match_name;
}

std::string normalizeDnsName(std::string_view name) {
  std::string s(name);
  if (!s.empty() && s.back() == '.') s.pop_back();
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string dnsPatternToRegex(std::string_view pattern) {
  const std::string p = normalizeDnsName(pattern);
  if (p == "*") return ".*";
  std::string out;
  std::string_view rest = p;
  if (rest.starts_with("**.")) {
    out = "([-a-z0-9_]+[.])+";
    rest.remove_prefix(3);
  }
  for (char c : rest) {
    if (c == '*') {
      out += "[-a-z0-9_]*";
    } else if (c == '.') {
      out += "[.]";
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') {
      out += c;
    } else {
      out += '[';
      out += c;
      out += ']';
    }
  }
  return out;
}

bool httpRuleMatches(const HttpRule& rule, const HttpRequest& req) {
  if (rule.method && !rule.method->matches(req.method)) return false;
  if (rule.path && !rule.path->matches(req.target)) return false;
  if (rule.host && !rule.host->matches(req.host)) return false;
  for (const HeaderMatch& want : rule.headers) {
    const bool found = std::any_of(req.headers.begin(), req.headers.end(), [&](const auto& h) {
      return equalsIgnoreCase(h.first, want.name) && (!want.value || h.second == *want.value);
    });
    if (!found) return false;
  }
  return true;
}

HttpMatch matchHttp(const HttpPolicy& policy, const HttpRequest& req) {
  for (const HttpRule& r : policy.rules) {
    if (httpRuleMatches(r, req)) return {.allowed = true, .rule = &r};
  }
  return {.allowed = policy.wildcard, .rule = nullptr};
}

bool dnsRuleMatches(const DnsRule& rule, std::string_view qname) {
  const std::string n = normalizeDnsName(qname);
  if (!rule.match_name.empty()) return n == rule.match_name;
  return rule.pattern_re && rule.pattern_re->matches(n);
}

const DnsRule* matchDns(const DnsPolicy& policy, std::string_view qname, bool* allowed) {
  for (const DnsRule& r : policy.rules) {
    if (dnsRuleMatches(r, qname)) {
      *allowed = true;
      return &r;
    }
  }
  *allowed = policy.wildcard;
  return nullptr;
}

}  // namespace membrane::model
