// SPDX-License-Identifier: Apache-2.0
// L7 rules (CiliumNetworkPolicy toPorts[].rules.http / .dns) as typed, compiled structs, and
// the pure matcher the proxy and `explain` share: given the L7 rules of one policy entry and
// a request, is it allowed and by which rule. No I/O, no YAML here (see l7_parse.cc).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/diagnostics.h"

namespace membrane::model {

// A POSIX extended regular expression matched against the whole input (anchored at both ends,
// as Cilium/Envoy treat rule regexes). glibc's regexec is used rather than std::regex: it does
// not recurse per input character, so a long request path cannot exhaust the proxy's stack.
class AnchoredRegex {
 public:
  // The error text of regcomp when `pattern` is not a valid POSIX ERE.
  static Result<AnchoredRegex> compile(const std::string& pattern);
  bool matches(std::string_view s) const;
  const std::string& pattern() const { return pattern_; }

 private:
  struct Compiled;
  std::string pattern_;
  std::shared_ptr<const Compiled> re_;  // shared: rules are copied, the regex_t is not
};

// headers: ["X-Foo"] (presence) or ["X-Foo: bar"] (exact value, Cilium's "name value" form);
// headerMatches: [{name, value}] (value empty = presence). Names compare case-insensitively.
struct HeaderMatch {
  std::string name;
  std::optional<std::string> value;  // nullopt: the header must be present
  std::string str() const;
};

// One rules.http[] entry. Empty method/path/host match anything.
struct HttpRule {
  std::optional<AnchoredRegex> method;
  std::optional<AnchoredRegex> path;  // matched against the request target (path and query)
  std::optional<AnchoredRegex> host;  // matched against the Host header
  std::vector<HeaderMatch> headers;
  std::string origin;  // "CiliumNetworkPolicy ns/name spec.egress[0].toPorts[0].rules.http[1]"
  SourceLoc loc;
  std::string str() const;  // "GET /public host=... X-Foo" for logs and explain
};

// One rules.dns[] entry (also a toFQDNs selector): exactly one of the two is set.
struct DnsRule {
  std::string match_name;     // lower case, without the trailing dot
  std::string match_pattern;  // as written (lower case)
  std::optional<AnchoredRegex> pattern_re;
  std::string origin;
  SourceLoc loc;
  std::string str() const;
};

// Cilium's matchPattern: `*` = zero or more DNS characters ([-a-z0-9_]) within one label,
// a leading `**.` = one or more labels, a lone `*` = every name. Returns the ERE source.
std::string dnsPatternToRegex(std::string_view pattern);
// Lower case, trailing dot removed: names compare in this form.
std::string normalizeDnsName(std::string_view name);

struct HttpRequest {
  std::string method;
  std::string target;  // request target as sent: "/path?query"
  std::string host;    // Host header value
  std::vector<std::pair<std::string, std::string>> headers;
};

// The L7 rules that apply to one (endpoint, direction, peer identity, port): the union of the
// rules.http of every redirect rule for it. `wildcard` is set when a plain L3/L4 allow covers
// the same key (Cilium then appends an allow-all HTTP rule: still proxied, nothing denied).
struct HttpPolicy {
  std::vector<HttpRule> rules;
  bool wildcard = false;
};

struct HttpMatch {
  bool allowed = false;
  const HttpRule* rule = nullptr;  // the first matching rule; null when denied or wildcard
};

bool httpRuleMatches(const HttpRule& rule, const HttpRequest& req);
HttpMatch matchHttp(const HttpPolicy& policy, const HttpRequest& req);

struct DnsPolicy {
  std::vector<DnsRule> rules;
  bool wildcard = false;
};
bool dnsRuleMatches(const DnsRule& rule, std::string_view qname);
const DnsRule* matchDns(const DnsPolicy& policy, std::string_view qname, bool* allowed);

}  // namespace membrane::model
