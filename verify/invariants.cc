// SPDX-License-Identifier: Apache-2.0
#include "verify/invariants.h"

#include <fstream>
#include <sstream>

#include "model/selector_parse.h"
#include "model/yaml_guard.h"
#include "model/yaml_util.h"

namespace membrane::verify {

using model::LabelSelector;
using model::SelectorOp;
using model::YamlCtx;

std::string_view expectName(Expect e) { return e == Expect::Deny ? "deny" : "allow"; }
std::string_view scopeName(Scope s) { return s == Scope::Any ? "any" : "existing"; }

bool PeerSpec::isAny() const { return !isPodSpec() && !entity && !cidr && !pod && !service; }

LabelSelector PeerSpec::podLabelSelector() const {
  LabelSelector sel;
  if (pod_selector) sel = *pod_selector;
  if (namespace_selector) {
    for (const auto& r : namespace_selector->requirements) sel.add(r);
  }
  if (namespace_) {
    sel.add({.source = std::string(model::kSourceK8s),
             .key = std::string(model::kLabelPodNamespace),
             .op = SelectorOp::In,
             .values = {*namespace_}});
  }
  return sel;
}

std::string PeerSpec::str() const {
  if (isAny()) return "anything";
  if (entity) return "entity " + *entity;
  // After expandServiceInvariants(): a backend (pod or cidr) that still names its Service.
  const std::string of = service ? " (a backend of Service " + *service + ")" : "";
  if (pod) return "pod " + *pod + of;
  if (cidr) {
    std::string s = "cidr " + cidr->cidr.str();
    for (const auto& x : cidr->except) s += " except " + x.str();
    return s + of;
  }
  if (service) return "Service " + *service;
  std::string s = "pods";
  if (namespace_) s += " in namespace " + *namespace_;
  if (pod_selector) s += " matching " + pod_selector->str();
  if (namespace_selector) s += " in namespaces matching " + namespace_selector->str();
  return s;
}

std::string PortRange::str() const {
  std::string s(model::protocolName(protocol));
  if (protocol == model::kProtoICMP)
    return s + (end_port == 255 && port == 0 ? "" : " type " + std::to_string(port));
  if (port == 0 && end_port == 65535) return s;
  s += " " + std::to_string(port);
  if (end_port != port) s += "-" + std::to_string(end_port);
  return s;
}

namespace {

const char* const kEntities[] = {"all",         "world",          "cluster", "host",
                                 "remote-node", "kube-apiserver", "health",  "init",
                                 "ingress",     "unmanaged"};

PeerSpec parsePeer(const YamlCtx& ctx, const YAML::Node& n, const std::string& path) {
  PeerSpec p;
  if (!model::isPresent(n)) return p;
  if (!n.IsMap()) {
    ctx.error(n, path, "expected a peer (a map), got " + std::string(model::yamlTypeName(n)));
    return p;
  }
  ctx.checkKeys(n, path,
                {"namespace", "podSelector", "namespaceSelector", "entity", "cidr", "except", "pod",
                 "service"});
  p.namespace_ = ctx.str(n, "namespace", path);
  p.pod = ctx.str(n, "pod", path);
  p.service = ctx.str(n, "service", path);
  if (p.service && p.service->find('/') == std::string::npos) {
    ctx.error(n["service"], model::joinPath(path, "service"), "expected namespace/name");
  }
  if (YAML::Node s = ctx.map(n, "podSelector", path)) {
    p.pod_selector = model::parseLabelSelector(ctx, s, model::joinPath(path, "podSelector"), "");
  }
  if (YAML::Node s = ctx.map(n, "namespaceSelector", path)) {
    p.namespace_selector =
        model::parseLabelSelector(ctx, s, model::joinPath(path, "namespaceSelector"),
                                  std::string(model::kLabelNamespaceLabelsPrefix));
  }
  if (auto e = ctx.str(n, "entity", path)) {
    bool known = false;
    for (const char* k : kEntities) known |= *e == k;
    if (!known) {
      ctx.error(n["entity"], model::joinPath(path, "entity"),
                "\"" + *e +
                    "\" is not an entity; expected all, world, cluster, host, remote-node, "
                    "kube-apiserver, health, init, ingress or unmanaged");
    }
    p.entity = e;
  }
  if (auto c = ctx.str(n, "cidr", path)) {
    std::string why;
    auto cidr = model::parseCidr(*c, &why);
    if (!cidr || cidr->ipv6) {
      ctx.error(n["cidr"], model::joinPath(path, "cidr"),
                "expected an IPv4 CIDR like 10.0.0.0/8" + (why.empty() ? "" : ": " + why));
    } else {
      p.cidr = model::CidrSpec{.cidr = *cidr};
      YAML::Node ex = ctx.seq(n, "except", path);
      for (size_t i = 0; ex && i < ex.size(); ++i) {
        auto x = model::parseCidr(ex[i].Scalar(), &why);
        if (!x || x->ipv6 || !cidr->containsCidr(*x)) {
          ctx.error(ex[i], model::indexPath(path, "except", i),
                    "expected an IPv4 CIDR inside " + cidr->str());
          continue;
        }
        p.cidr->except.push_back(*x);
      }
    }
  }
  const int kinds = (p.isPodSpec() ? 1 : 0) + (p.entity ? 1 : 0) + (p.cidr ? 1 : 0) +
                    (p.pod ? 1 : 0) + (p.service ? 1 : 0);
  if (kinds > 1) {
    ctx.error(n, path,
              "use one of: namespace/podSelector/namespaceSelector, entity, cidr, pod, service");
  }
  if (p.pod && p.pod->find('/') == std::string::npos) {
    ctx.error(n["pod"], model::joinPath(path, "pod"), "expected namespace/name");
  }
  return p;
}

std::optional<PortRange> parsePort(const YamlCtx& ctx, const YAML::Node& n,
                                   const std::string& path) {
  if (!n.IsMap()) {
    ctx.error(n, path, "expected {port, endPort, protocol}");
    return std::nullopt;
  }
  ctx.checkKeys(n, path, {"port", "endPort", "protocol", "type"});
  PortRange r;
  const std::string proto = ctx.str(n, "protocol", path).value_or("TCP");
  if (proto == "TCP") {
    r.protocol = model::kProtoTCP;
  } else if (proto == "UDP") {
    r.protocol = model::kProtoUDP;
  } else if (proto == "SCTP") {
    r.protocol = model::kProtoSCTP;
  } else if (proto == "ANY") {
    r.protocol = model::kProtoAny;
  } else if (proto == "ICMP") {
    r.protocol = model::kProtoICMP;
  } else {
    ctx.error(n["protocol"], model::joinPath(path, "protocol"),
              "\"" + proto + "\" is not a protocol; expected TCP, UDP, SCTP, ANY or ICMP");
    return std::nullopt;
  }
  if (r.protocol == model::kProtoICMP) {
    auto t = ctx.integer(n, "type", path, 0, 255);
    r.port = static_cast<uint16_t>(t.value_or(0));
    r.end_port = static_cast<uint16_t>(t.value_or(255));
    return r;
  }
  auto port = ctx.integer(n, "port", path, 1, 65535);
  auto end = ctx.integer(n, "endPort", path, 1, 65535);
  if (!port) {
    r.port = 1;
    r.end_port = 65535;
    return r;
  }
  r.port = static_cast<uint16_t>(*port);
  r.end_port = static_cast<uint16_t>(end.value_or(*port));
  if (r.end_port < r.port) {
    ctx.error(n["endPort"], model::joinPath(path, "endPort"), "endPort is below port");
    return std::nullopt;
  }
  return r;
}

// `http: {method: GET, path: /status, host: api, headers: {X-Team: blue}}`; absent fields are
// GET, / and no Host, as `membrane explain --http-*`.
std::optional<model::HttpRequest> parseHttp(const YamlCtx& ctx, const YAML::Node& parent,
                                            const std::string& path) {
  YAML::Node n = ctx.map(parent, "http", path);
  if (!n) return std::nullopt;
  const std::string hp = model::joinPath(path, "http");
  ctx.checkKeys(n, hp, {"method", "path", "host", "headers"});
  model::HttpRequest req{.method = ctx.str(n, "method", hp).value_or("GET"),
                         .target = ctx.str(n, "path", hp).value_or("/"),
                         .host = ctx.str(n, "host", hp).value_or("")};
  if (req.method.empty() || req.method.find_first_of(" \t\r\n") != std::string::npos) {
    ctx.error(n["method"], model::joinPath(hp, "method"),
              "expected an HTTP method token such as GET");
  }
  if (req.target.empty() || req.target[0] != '/') {
    ctx.error(n["path"], model::joinPath(hp, "path"),
              "expected a request target starting with / (path and query)");
  }
  if (YAML::Node h = ctx.map(n, "headers", hp)) {
    for (const auto& kv : h) {
      const std::string name = kv.first.as<std::string>();
      const std::string hpath = model::joinPath(model::joinPath(hp, "headers"), name);
      if (!kv.second.IsScalar()) {
        ctx.error(kv.second, hpath, "expected a header value (a string)");
        continue;
      }
      req.headers.emplace_back(name, kv.second.as<std::string>());
    }
  }
  return req;
}

void parseInvariant(const YamlCtx& ctx, const YAML::Node& n, const std::string& path,
                    InvariantFile& out) {
  ctx.checkKeys(
      n, path,
      {"name", "description", "expect", "from", "to", "ports", "scope", "allowVacuous", "http"});
  Invariant inv{.loc = ctx.loc(n)};
  inv.name = ctx.str(n, "name", path).value_or("");
  if (inv.name.empty()) ctx.error(n, model::joinPath(path, "name"), "every invariant needs a name");
  inv.description = ctx.str(n, "description", path).value_or("");
  const std::string expect = ctx.str(n, "expect", path).value_or("");
  if (expect == "deny") {
    inv.expect = Expect::Deny;
  } else if (expect == "allow") {
    inv.expect = Expect::Allow;
  } else {
    ctx.error(n["expect"].IsDefined() ? n["expect"] : n, model::joinPath(path, "expect"),
              "expected deny (no such flow is allowed) or allow (every such flow is allowed)");
  }
  const std::string scope = ctx.str(n, "scope", path).value_or("any");
  if (scope == "existing") {
    inv.scope = Scope::Existing;
  } else if (scope != "any") {
    ctx.error(n["scope"], model::joinPath(path, "scope"), "expected any or existing");
  }
  inv.allow_vacuous = ctx.boolean(n, "allowVacuous", path).value_or(false);
  inv.from = parsePeer(ctx, n["from"], model::joinPath(path, "from"));
  if (inv.from.service) {
    ctx.error(n["from"]["service"], model::joinPath(path, "from.service"),
              "a Service is a destination only (it has no address of its own as a source); "
              "expected service under to");
  }
  inv.to = parsePeer(ctx, n["to"], model::joinPath(path, "to"));
  if (YAML::Node ports = ctx.seq(n, "ports", path)) {
    for (size_t i = 0; i < ports.size(); ++i) {
      if (auto p = parsePort(ctx, ports[i], model::indexPath(path, "ports", i)))
        inv.ports.push_back(*p);
    }
  }
  inv.http = parseHttp(ctx, n, path);
  if (inv.http) {
    for (size_t i = 0; i < inv.ports.size(); ++i) {
      if (inv.ports[i].protocol != model::kProtoTCP) {
        ctx.error(n["ports"][i], model::indexPath(path, "ports", i),
                  "an invariant with http is about TCP flows; expected protocol TCP");
      }
    }
  }
  out.invariants.push_back(std::move(inv));
}

}  // namespace

InvariantFile parseInvariants(const std::string& name, const std::string& text,
                              model::Diagnostics& diags) {
  InvariantFile out{.path = name};
  auto doc = model::loadYamlDocument(text, name, diags);
  if (!doc) return out;
  YAML::Node root = *doc;
  YamlCtx ctx(name, "Invariants", &diags);
  if (!root.IsMap()) {
    ctx.error(root, "", "expected a map with apiVersion membrane/v1, kind Invariants");
    return out;
  }
  ctx.checkKeys(root, "", {"apiVersion", "kind", "metadata", "invariants"});
  if (ctx.str(root, "apiVersion", "").value_or("") != "membrane/v1") {
    ctx.error(root["apiVersion"].IsDefined() ? root["apiVersion"] : root, "apiVersion",
              "expected membrane/v1");
  }
  if (ctx.str(root, "kind", "").value_or("") != "Invariants") {
    ctx.error(root["kind"].IsDefined() ? root["kind"] : root, "kind", "expected Invariants");
  }
  YAML::Node list = ctx.seq(root, "invariants", "");
  if (!list || list.size() == 0) {
    ctx.error(root, "invariants", "expected a non-empty list of invariants");
    return out;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].IsMap()) {
      ctx.error(list[i], model::indexPath("", "invariants", i), "expected an invariant (a map)");
      continue;
    }
    parseInvariant(ctx, list[i], model::indexPath("", "invariants", i), out);
  }
  return out;
}

InvariantFile loadInvariants(const std::string& path, model::Diagnostics& diags) {
  std::ifstream in(path);
  if (!in) {
    diags.error({.loc = {.file = path}, .message = "cannot read the invariants file"});
    return {.path = path};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parseInvariants(path, ss.str(), diags);
}

}  // namespace membrane::verify
