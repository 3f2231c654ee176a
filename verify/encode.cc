// SPDX-License-Identifier: Apache-2.0
#include "verify/encode.h"

#include <algorithm>

namespace membrane::verify {

using model::Direction;
using model::LabelSelector;
using model::PolicyRule;
using model::Requirement;
using model::SelectorOp;
using smt::Expr;

namespace {

const std::string kNsKey(model::kLabelPodNamespace);
const std::string kClusterKey(model::kLabelCluster);
const std::string kSaKey(model::kLabelServiceAccount);
const std::string kNsLabelsPrefix(model::kLabelNamespaceLabelsPrefix);

// Reserved identities that can be an endpoint of a flow. world-ipv4/-ipv6 (9, 10) cannot:
// the model is IPv4-only and addresses outside the cluster resolve to world or a CIDR.
constexpr int64_t kMaxEndpointKind = 8;

model::Labels reservedLabels(int64_t kind) {
  model::Labels l;
  l.add(std::string(model::kSourceReserved),
        std::string(model::reservedIdentityName(static_cast<model::IdentityId>(kind))), "");
  return l;
}

}  // namespace

bool isPortProtocol(uint8_t proto) {
  return proto == model::kProtoTCP || proto == model::kProtoUDP || proto == model::kProtoSCTP;
}

Encoder::Encoder(smt::Context& ctx, const model::Cluster& cluster, const Universe& universe)
    : ctx_(ctx), cluster_(cluster), universe_(universe), classes_(endpointClasses(cluster)) {
  for (const auto& r : cluster.policies.rules) {
    rules_by_dir_[static_cast<int>(r.direction)].push_back(r.id);
    for (const auto& c : r.peers.cidrs) {
      for (const model::Cidr* p : {&c.cidr}) {
        if (!p->ipv6 && p->len > 0) prefixes_.push_back(*p);
      }
      for (const auto& x : c.except) {
        if (!x.ipv6 && x.len > 0) prefixes_.push_back(x);
      }
    }
  }
  std::sort(prefixes_.begin(), prefixes_.end(), [](const model::Cidr& a, const model::Cidr& b) {
    return std::tie(a.addr, a.len) < std::tie(b.addr, b.len);
  });
  prefixes_.erase(std::unique(prefixes_.begin(), prefixes_.end(),
                              [](const model::Cidr& a, const model::Cidr& b) {
                                return a.addr == b.addr && a.len == b.len;
                              }),
                  prefixes_.end());
}

SymEndpoint Encoder::endpoint(const std::string& name, Scope scope) {
  SymEndpoint e{.name = name, .scope = scope};
  e.kind = ctx_.intVar(name + ".kind");
  e.addr = ctx_.bvVar(name + ".addr", 32);
  ctx_.add(ctx_.inRange(e.kind, 0, kMaxEndpointKind));
  for (const auto& [key, vals] : universe_.keys()) {
    Expr v = ctx_.intVar(name + ".k8s:" + key);
    e.labels.emplace(key, v);
    ctx_.add(ctx_.inRange(v, kCodeAbsent, universe_.maxCode(key)));
  }
  if (scope == Scope::Any) {
    for (const auto& pn : universe_.portNames()) {
      const std::string p = name + ".port." + pn;
      SymNamedPort np{.present = ctx_.boolVar(p + ".present"),
                      .port = ctx_.intVar(p + ".number"),
                      .proto = ctx_.intVar(p + ".protocol")};
      ctx_.add(ctx_.implies(
          np.present,
          ctx_.mkAnd({ctx_.inRange(np.port, 1, 65535),
                      ctx_.mkOr({ctx_.eq(np.proto, ctx_.intVal(model::kProtoTCP)),
                                 ctx_.eq(np.proto, ctx_.intVal(model::kProtoUDP)),
                                 ctx_.eq(np.proto, ctx_.intVal(model::kProtoSCTP))})})));
      e.named_ports.emplace(pn, np);
    }
  } else {
    e.cls = ctx_.intVar(name + ".class");
    std::vector<Expr> choice;
    for (size_t c = 0; c < classes_.size(); ++c) {
      Expr is_c = ctx_.eq(e.cls, ctx_.intVal(static_cast<int64_t>(c)));
      ctx_.add(ctx_.implies(is_c, classLabels(e, c)));
    }
    ctx_.add(
        ctx_.implies(isPod(e), ctx_.inRange(e.cls, 0, static_cast<int64_t>(classes_.size()) - 1)));
  }
  assertPodDomain(e);
  return e;
}

// What every pod's labels satisfy: a namespace, the cluster's name, a service account,
// declared namespaces' labels, and no label the identity filter drops.
void Encoder::assertPodDomain(SymEndpoint& e) {
  std::vector<Expr> facts;
  for (const auto& [key, vals] : universe_.keys()) {
    Expr v = e.labels.at(key);
    if (key == kNsKey || key == kSaKey) {
      facts.push_back(ctx_.mkNot(ctx_.eq(v, ctx_.intVal(kCodeAbsent))));
    } else if (key == kClusterKey) {
      facts.push_back(ctx_.eq(v, ctx_.intVal(universe_.code(key, cluster_.options.name))));
    } else if (!key.starts_with(kNsLabelsPrefix) && !identityRelevantKey(cluster_, key)) {
      facts.push_back(ctx_.eq(v, ctx_.intVal(kCodeAbsent)));
    }
  }
  Expr ns = e.labels.at(kNsKey);
  // A pod's namespace label kubernetes.io/metadata.name is its namespace's name (Kubernetes
  // sets it on every namespace, declared or not); the universe gives both keys one value set.
  if (auto meta = e.labels.find(namespaceNameLabelKey()); meta != e.labels.end()) {
    const Expr m = meta->second;
    const auto& ns_vals = universe_.keys().at(kNsKey);
    const auto& meta_vals = universe_.keys().at(meta->first);
    auto named = [](const std::vector<std::string>& vals, const std::string& v) {
      return std::binary_search(vals.begin(), vals.end(), v);
    };
    facts.push_back(ctx_.mkNot(ctx_.eq(m, ctx_.intVal(kCodeAbsent))));
    // A name the namespace key names: the label is that name (or "other" if no selector
    // names it for the label key).
    for (const auto& v : ns_vals) {
      facts.push_back(ctx_.implies(ctx_.eq(ns, ctx_.intVal(universe_.code(kNsKey, v))),
                                   ctx_.eq(m, ctx_.intVal(universe_.code(meta->first, v)))));
    }
    // A label value a selector names: the namespace is that name (or "other" for the key).
    for (const auto& v : meta_vals) {
      facts.push_back(ctx_.implies(ctx_.eq(m, ctx_.intVal(universe_.code(meta->first, v))),
                                   ctx_.eq(ns, ctx_.intVal(universe_.code(kNsKey, v)))));
    }
    // "Some other" namespace: its name is no named value of the namespace key, so the label
    // is "other" too unless the name is a label value only selectors on the label name.
    std::vector<Expr> other_meta{ctx_.eq(m, ctx_.intVal(kCodeOther))};
    for (const auto& v : meta_vals) {
      if (!named(ns_vals, v))
        other_meta.push_back(ctx_.eq(m, ctx_.intVal(universe_.code(meta->first, v))));
    }
    facts.push_back(ctx_.implies(ctx_.eq(ns, ctx_.intVal(kCodeOther)), ctx_.mkOr(other_meta)));
  }
  for (const auto& n : cluster_.namespaces) {
    if (!n.declared) continue;
    std::vector<Expr> ns_labels;
    for (const auto& [key, vals] : universe_.keys()) {
      if (!key.starts_with(kNsLabelsPrefix)) continue;
      auto it = n.labels.find(key.substr(kNsLabelsPrefix.size()));
      const int64_t code = it == n.labels.end() ? kCodeAbsent : universe_.code(key, it->second);
      ns_labels.push_back(ctx_.eq(e.labels.at(key), ctx_.intVal(code)));
    }
    facts.push_back(ctx_.implies(ctx_.eq(ns, ctx_.intVal(universe_.code(kNsKey, n.name))),
                                 ctx_.mkAnd(ns_labels)));
  }
  ctx_.add(ctx_.implies(isPod(e), ctx_.mkAnd(facts)));
}

Expr Encoder::classLabels(const SymEndpoint& e, size_t cls) {
  const model::Identity* ident = cluster_.identity(classes_[cls].identity);
  std::vector<Expr> eqs;
  for (const auto& [key, vals] : universe_.keys()) {
    const int64_t code = ident ? universe_.codeIn(key, ident->labels) : kCodeAbsent;
    eqs.push_back(ctx_.eq(e.labels.at(key), ctx_.intVal(code)));
  }
  return ctx_.mkAnd(eqs);
}

SymEndpoint Encoder::fixedPod(const std::string& name, size_t cls) {
  SymEndpoint e{.name = name, .scope = Scope::Existing, .fixed_class = cls};
  e.kind = ctx_.intVal(kKindPod);
  e.cls = ctx_.intVal(static_cast<int64_t>(cls));
  const auto& pod = cluster_.pods[classes_[cls].pods.front()];
  e.addr = ctx_.bvVal(pod.ip.value_or(0), 32);
  const model::Identity* ident = cluster_.identity(classes_[cls].identity);
  for (const auto& [key, vals] : universe_.keys()) {
    e.labels.emplace(key, ctx_.intVal(ident ? universe_.codeIn(key, ident->labels) : kCodeAbsent));
  }
  return e;
}

SymEndpoint Encoder::fixedOther(const std::string& name, int64_t kind, model::Ipv4 addr) {
  SymEndpoint e{.name = name, .scope = Scope::Existing};
  e.kind = ctx_.intVal(kind);
  e.cls = ctx_.intVal(-1);
  e.addr = ctx_.bvVal(addr, 32);
  for (const auto& [key, vals] : universe_.keys()) e.labels.emplace(key, ctx_.intVal(kCodeAbsent));
  return e;
}

SymFlow Encoder::flow(SymEndpoint src, SymEndpoint dst) {
  SymFlow f{.src = std::move(src), .dst = std::move(dst)};
  f.proto = ctx_.intVar("proto");
  f.port = ctx_.intVar("port");
  assertFlowDomain(f.proto, f.port);
  ctx_.add(ctx_.mkOr(isPod(f.src), isPod(f.dst)));
  // Two pods of one named namespace see the same namespace labels (a namespace that no
  // manifest declares is still one object). Two "other" namespaces may differ: the witness
  // then gives them different names.
  {
    const Expr src_ns = f.src.labels.at(kNsKey), dst_ns = f.dst.labels.at(kNsKey);
    std::vector<Expr> same_labels;
    for (const auto& [key, vals] : universe_.keys()) {
      if (key.starts_with(kNsLabelsPrefix)) {
        same_labels.push_back(ctx_.eq(f.src.labels.at(key), f.dst.labels.at(key)));
      }
    }
    if (!same_labels.empty()) {
      ctx_.add(ctx_.implies(ctx_.mkAnd({isPod(f.src), isPod(f.dst), ctx_.eq(src_ns, dst_ns),
                                        ctx_.mkNot(ctx_.eq(src_ns, ctx_.intVal(kCodeOther)))}),
                            ctx_.mkAnd(same_labels)));
    }
  }
  // Two existing endpoints of a class with a single pod are that pod: no flow to itself.
  if (f.src.scope == Scope::Existing && f.dst.scope == Scope::Existing) {
    for (size_t c = 0; c < classes_.size(); ++c) {
      if (classes_[c].pods.size() > 1) continue;
      const Expr ci = ctx_.intVal(static_cast<int64_t>(c));
      ctx_.add(ctx_.mkNot(ctx_.mkAnd(
          {isPod(f.src), isPod(f.dst), ctx_.eq(f.src.cls, ci), ctx_.eq(f.dst.cls, ci)})));
    }
  }
  return f;
}

void Encoder::assertFlowDomain(Expr proto, Expr port) {
  auto proto_is = [&](uint8_t p) { return ctx_.eq(proto, ctx_.intVal(p)); };
  ctx_.add(ctx_.mkOr({ctx_.mkAnd(ctx_.mkOr({proto_is(model::kProtoTCP), proto_is(model::kProtoUDP),
                                            proto_is(model::kProtoSCTP)}),
                                 ctx_.inRange(port, 1, 65535)),
                      ctx_.mkAnd(proto_is(model::kProtoICMP), ctx_.inRange(port, 0, 255))}));
}

Expr Encoder::isPod(const SymEndpoint& e) { return ctx_.eq(e.kind, ctx_.intVal(kKindPod)); }

Expr Encoder::podRequirement(const Requirement& req, const SymEndpoint& e) {
  const bool positive = req.op == SelectorOp::In || req.op == SelectorOp::Exists;
  if (req.source != model::kSourceK8s && req.source != model::kSourceAny) {
    return ctx_.boolVal(!positive);  // pods carry only k8s labels
  }
  auto it = e.labels.find(req.key);
  if (it == e.labels.end()) return ctx_.boolVal(!positive);  // not in the universe: absent
  const Expr v = it->second;
  const Expr absent = ctx_.eq(v, ctx_.intVal(kCodeAbsent));
  std::vector<Expr> in;
  for (const auto& val : req.values)
    in.push_back(ctx_.eq(v, ctx_.intVal(universe_.code(req.key, val))));
  switch (req.op) {
    case SelectorOp::In:
      return ctx_.mkOr(in);
    case SelectorOp::NotIn:
      return ctx_.mkNot(ctx_.mkOr(in));
    case SelectorOp::Exists:
      return ctx_.mkNot(absent);
    case SelectorOp::DoesNotExist:
      return absent;
  }
  return ctx_.boolVal(false);
}

Expr Encoder::inCidr(const SymEndpoint& e, const model::Cidr& c) {
  if (c.ipv6) return ctx_.boolVal(false);
  if (c.len == 0) return ctx_.boolVal(true);
  const unsigned len = std::min<unsigned>(c.len, 32);
  return ctx_.eq(ctx_.extract(e.addr, 31, 32 - len), ctx_.bvVal(c.addr >> (32 - len), len));
}

// The address's CIDR identity is `c`: inside c and inside no longer prefix a policy names.
Expr Encoder::longestPrefixIs(const SymEndpoint& e, const model::Cidr& c) {
  bool named = false;
  std::vector<Expr> parts{inCidr(e, c)};
  for (const auto& p : prefixes_) {
    named |= p.addr == c.addr && p.len == c.len;
    if (p.len > c.len && c.containsCidr(p)) parts.push_back(ctx_.mkNot(inCidr(e, p)));
  }
  if (!named) return ctx_.boolVal(false);
  return ctx_.mkAnd(parts);
}

// Labels of an external address: reserved:world and cidr:<its CIDR identity's prefix>.
Expr Encoder::externalSelects(const LabelSelector& sel, const SymEndpoint& e) {
  model::Labels world;
  world.add(std::string(model::kSourceReserved), "world", "");
  std::vector<Expr> parts;
  for (const auto& req : sel.requirements) {
    std::optional<model::Cidr> prefix;
    if (req.source == model::kSourceCidr || req.source == model::kSourceAny) {
      prefix = model::parseCidr(req.key, nullptr);
    }
    if (!prefix || prefix->ipv6) {
      parts.push_back(ctx_.boolVal(req.matches(world)));
      continue;
    }
    const Expr present = longestPrefixIs(e, *prefix);
    const bool empty_listed = std::binary_search(req.values.begin(), req.values.end(), "");
    switch (req.op) {
      case SelectorOp::In:
        parts.push_back(empty_listed ? present : ctx_.boolVal(false));
        break;
      case SelectorOp::NotIn:
        parts.push_back(empty_listed ? ctx_.mkNot(present) : ctx_.boolVal(true));
        break;
      case SelectorOp::Exists:
        parts.push_back(present);
        break;
      case SelectorOp::DoesNotExist:
        parts.push_back(ctx_.mkNot(present));
        break;
    }
  }
  return ctx_.mkAnd(parts);
}

Expr Encoder::selects(const LabelSelector& sel, const SymEndpoint& e) {
  std::vector<Expr> kinds;
  std::vector<Expr> pod{isPod(e)};
  for (const auto& req : sel.requirements) pod.push_back(podRequirement(req, e));
  kinds.push_back(ctx_.mkAnd(pod));
  for (int64_t k = 1; k <= kMaxEndpointKind; ++k) {
    if (k == kKindExternal || !sel.matches(reservedLabels(k))) continue;
    kinds.push_back(ctx_.eq(e.kind, ctx_.intVal(k)));
  }
  kinds.push_back(ctx_.mkAnd(ctx_.eq(e.kind, ctx_.intVal(kKindExternal)), externalSelects(sel, e)));
  return ctx_.mkOr(kinds);
}

Expr Encoder::subjectSelects(const PolicyRule& r, const SymEndpoint& self) {
  std::vector<Expr> reqs;
  for (const auto& req : r.subject.requirements) reqs.push_back(podRequirement(req, self));
  return ctx_.mkAnd(reqs);
}

Expr Encoder::peerSelects(const PolicyRule& r, const SymEndpoint& peer) {
  switch (r.peers.kind) {
    case model::PeerSet::Kind::None:
      return ctx_.boolVal(false);
    case model::PeerSet::Kind::All:
      return ctx_.boolVal(true);
    case model::PeerSet::Kind::Some:
      break;
  }
  std::vector<Expr> any;
  for (const auto& sel : r.peers.selectors) any.push_back(selects(sel, peer));
  const Expr external = ctx_.eq(peer.kind, ctx_.intVal(kKindExternal));
  for (const auto& c : r.peers.cidrs) {
    std::vector<Expr> m{external, inCidr(peer, c.cidr)};
    for (const auto& x : c.except) m.push_back(ctx_.mkNot(inCidr(peer, x)));
    any.push_back(ctx_.mkAnd(m));
  }
  return ctx_.mkOr(any);
}

Expr Encoder::hasIdentity(const SymEndpoint& e, model::IdentityId id) {
  const model::Identity* ident = cluster_.identity(id);
  if (ident == nullptr) return ctx_.boolVal(false);
  const Expr external = ctx_.eq(e.kind, ctx_.intVal(kKindExternal));
  if (id == model::kIdentityWorld) {
    std::vector<Expr> outside{external};
    for (const auto& p : prefixes_) outside.push_back(ctx_.mkNot(inCidr(e, p)));
    return ctx_.mkAnd(outside);
  }
  if (ident->kind == model::IdentityKind::Reserved) {
    return ctx_.eq(e.kind, ctx_.intVal(static_cast<int64_t>(id)));
  }
  if (ident->kind == model::IdentityKind::Cidr) {
    return ident->cidr ? ctx_.mkAnd(external, longestPrefixIs(e, *ident->cidr))
                       : ctx_.boolVal(false);
  }
  if (e.scope == Scope::Existing) {
    std::vector<Expr> any;
    for (size_t c = 0; c < classes_.size(); ++c) {
      if (classes_[c].identity == id)
        any.push_back(ctx_.eq(e.cls, ctx_.intVal(static_cast<int64_t>(c))));
    }
    return ctx_.mkAnd(isPod(e), ctx_.mkOr(any));
  }
  std::vector<Expr> eqs{isPod(e)};
  for (const auto& [key, vals] : universe_.keys()) {
    eqs.push_back(ctx_.eq(e.labels.at(key), ctx_.intVal(universe_.codeIn(key, ident->labels))));
  }
  return ctx_.mkAnd(eqs);
}

Expr Encoder::namedPortMatches(const std::string& name, uint8_t spec_proto, const SymEndpoint& e,
                               bool identity_level, Expr proto, Expr port) {
  auto proto_ok = [&](uint8_t p) {
    return spec_proto == model::kProtoAny ? isPortProtocol(p) : p == spec_proto;
  };
  if (e.scope == Scope::Any) {
    auto it = e.named_ports.find(name);
    if (it == e.named_ports.end()) return ctx_.boolVal(false);
    const SymNamedPort& np = it->second;
    std::vector<Expr> protos;
    for (uint8_t p : {model::kProtoTCP, model::kProtoUDP, model::kProtoSCTP}) {
      if (proto_ok(p)) protos.push_back(ctx_.eq(proto, ctx_.intVal(p)));
    }
    return ctx_.mkAnd({isPod(e), np.present, ctx_.eq(np.port, port), ctx_.eq(np.proto, proto),
                       ctx_.mkOr(protos)});
  }
  auto entries_of = [&](size_t c) {
    std::vector<Expr> m;
    auto add = [&](const model::ContainerPort& cp) {
      if (cp.name == name && proto_ok(cp.protocol)) {
        m.push_back(ctx_.mkAnd(ctx_.eq(port, ctx_.intVal(cp.port)),
                               ctx_.eq(proto, ctx_.intVal(cp.protocol))));
      }
    };
    if (identity_level) {
      if (const model::Identity* ident = cluster_.identity(classes_[c].identity)) {
        auto range = ident->named_ports.equal_range(name);
        for (auto r = range.first; r != range.second; ++r) add(r->second);
      }
    } else {
      for (const auto& cp : classes_[c].ports) add(cp);
    }
    return ctx_.mkOr(m);
  };
  if (e.fixed_class) return entries_of(*e.fixed_class);
  std::vector<Expr> any;
  for (size_t c = 0; c < classes_.size(); ++c) {
    Expr m = entries_of(c);
    if (!m.isFalse())
      any.push_back(ctx_.mkAnd(ctx_.eq(e.cls, ctx_.intVal(static_cast<int64_t>(c))), m));
  }
  return ctx_.mkAnd(isPod(e), ctx_.mkOr(any));
}

Expr Encoder::portMatches(const PolicyRule& r, const SymEndpoint& self, const SymEndpoint& peer,
                          Expr proto, Expr port) {
  if (r.icmps_present) {
    std::vector<Expr> types;
    for (uint8_t t : r.icmp_types) types.push_back(ctx_.eq(port, ctx_.intVal(t)));
    return ctx_.mkAnd(ctx_.eq(proto, ctx_.intVal(model::kProtoICMP)), ctx_.mkOr(types));
  }
  if (r.ports.empty()) return ctx_.boolVal(true);
  std::vector<Expr> any;
  for (const auto& p : r.ports) {
    if (!p.name.empty()) {
      const bool ingress = r.direction == Direction::Ingress;
      any.push_back(
          namedPortMatches(p.name, p.protocol, ingress ? self : peer, !ingress, proto, port));
      continue;
    }
    Expr proto_ok = p.protocol == model::kProtoAny
                        ? ctx_.mkOr({ctx_.eq(proto, ctx_.intVal(model::kProtoTCP)),
                                     ctx_.eq(proto, ctx_.intVal(model::kProtoUDP)),
                                     ctx_.eq(proto, ctx_.intVal(model::kProtoSCTP))})
                        : ctx_.eq(proto, ctx_.intVal(p.protocol));
    any.push_back(ctx_.mkAnd(proto_ok, ctx_.inRange(port, p.port, p.end_port)));
  }
  return ctx_.mkOr(any);
}

Expr Encoder::ruleMatches(const PolicyRule& r, const SymEndpoint& self, const SymEndpoint& peer,
                          Expr proto, Expr port) {
  return ctx_.mkAnd(
      {subjectSelects(r, self), peerSelects(r, peer), portMatches(r, self, peer, proto, port)});
}

Encoder::SideParts Encoder::sideParts(Direction dir, const SymEndpoint& self,
                                      const SymEndpoint& peer, Expr proto, Expr port,
                                      const std::vector<bool>* rule_filter) {
  SideParts p;
  for (size_t id : rules_by_dir_[static_cast<int>(dir)]) {
    if (rule_filter != nullptr && !(*rule_filter)[id]) continue;
    const PolicyRule& r = cluster_.policies.rules[id];
    const Expr sel = subjectSelects(r, self);
    if (sel.isFalse()) continue;
    p.selected.push_back(sel);
    if (r.default_deny) p.enforcing.push_back(sel);
    const Expr m = ctx_.mkAnd({sel, peerSelects(r, peer), portMatches(r, self, peer, proto, port)});
    if (m.isFalse()) continue;
    (r.deny ? p.deny : (r.l7.empty() ? p.allow : p.redirect)).push_back(m);
  }
  return p;
}

Expr Encoder::sideAllows(Direction dir, const SymEndpoint& self, const SymEndpoint& peer,
                         Expr proto, Expr port, const std::vector<bool>* rule_filter) {
  SideParts p = sideParts(dir, self, peer, proto, port, rule_filter);
  const Expr from_host = dir == Direction::Ingress
                             ? ctx_.eq(peer.kind, ctx_.intVal(model::kIdentityHost))
                             : ctx_.boolVal(false);
  return ctx_.mkOr(ctx_.mkNot(ctx_.mkOr(p.selected)),
                   ctx_.mkAnd(ctx_.mkNot(ctx_.mkOr(p.deny)),
                              ctx_.mkOr({ctx_.mkOr(p.redirect), ctx_.mkOr(p.allow),
                                         ctx_.mkNot(ctx_.mkOr(p.enforcing)), from_host})));
}

Expr Encoder::sideVerdict(Direction dir, const SymEndpoint& self, const SymEndpoint& peer,
                          Expr proto, Expr port, const std::vector<bool>* rule_filter) {
  SideParts p = sideParts(dir, self, peer, proto, port, rule_filter);
  const Expr from_host = dir == Direction::Ingress
                             ? ctx_.eq(peer.kind, ctx_.intVal(model::kIdentityHost))
                             : ctx_.boolVal(false);
  const Expr allow = ctx_.intVal(kVerdictAllow);
  const Expr deny = ctx_.intVal(kVerdictDeny);
  const Expr fallback = ctx_.ite(
      ctx_.mkOr({ctx_.mkOr(p.allow), ctx_.mkNot(ctx_.mkOr(p.enforcing)), from_host}), allow, deny);
  return ctx_.ite(
      ctx_.mkNot(ctx_.mkOr(p.selected)), allow,
      ctx_.ite(ctx_.mkOr(p.deny), deny,
               ctx_.ite(ctx_.mkOr(p.redirect), ctx_.intVal(kVerdictRedirect), fallback)));
}

Expr Encoder::flowAllowed(const SymFlow& f, const std::vector<bool>* rule_filter) {
  const Expr egress = sideAllows(Direction::Egress, f.src, f.dst, f.proto, f.port, rule_filter);
  const Expr ingress = sideAllows(Direction::Ingress, f.dst, f.src, f.proto, f.port, rule_filter);
  return ctx_.mkAnd(ctx_.mkOr(ctx_.mkNot(isPod(f.src)), egress),
                    ctx_.mkOr(ctx_.mkNot(isPod(f.dst)), ingress));
}

Expr Encoder::sideAllowsRequest(Direction dir, const SymEndpoint& self, const SymEndpoint& peer,
                                Expr proto, Expr port, const model::HttpRequest& req,
                                const std::vector<bool>* rule_filter) {
  // Redirect precedence (Engine::rulePrecedence): rules whose first L7 section is HTTP beat
  // DNS and other redirects, so when one of them matches, only those decide.
  std::vector<Expr> redirect, http_class, http_mixed, http_match, widening, enforcing;
  for (size_t id : rules_by_dir_[static_cast<int>(dir)]) {
    if (rule_filter != nullptr && !(*rule_filter)[id]) continue;
    const PolicyRule& r = cluster_.policies.rules[id];
    const Expr sel = subjectSelects(r, self);
    if (sel.isFalse()) continue;
    if (r.default_deny) enforcing.push_back(sel);
    if (r.deny) continue;
    if (r.l7.empty()) {
      // The plain allows model::decideHttp widens with: numeric TCP (or any-protocol) ports.
      if (r.icmps_present) continue;
      PolicyRule numeric = r;
      numeric.ports.clear();
      for (const auto& p : r.ports) {
        if (p.name.empty() && (p.protocol == model::kProtoTCP || p.protocol == model::kProtoAny))
          numeric.ports.push_back(p);
      }
      if (!r.ports.empty() && numeric.ports.empty()) continue;
      widening.push_back(
          ctx_.mkAnd({sel, peerSelects(r, peer), portMatches(numeric, self, peer, proto, port)}));
      continue;
    }
    const Expr m = ctx_.mkAnd({sel, peerSelects(r, peer), portMatches(r, self, peer, proto, port)});
    if (m.isFalse()) continue;
    redirect.push_back(m);
    if (r.l7.front().type != "http") continue;
    http_class.push_back(m);
    bool mixed = false;
    bool matches = false;
    for (const auto& l : r.l7) {
      mixed |= l.type != "http";
      for (const auto& h : l.http) matches |= model::httpRuleMatches(h, req);
    }
    if (mixed) {
      http_mixed.push_back(m);
    } else if (matches) {
      http_match.push_back(m);
    }
  }
  // Ingress redirects fail closed in the datapath (bpf/lib/proxy.h): no request passes.
  if (dir == Direction::Ingress) {
    return ctx_.mkAnd(sideAllows(dir, self, peer, proto, port, rule_filter),
                      ctx_.mkNot(ctx_.mkOr(redirect)));
  }
  const Expr wildcard = ctx_.mkOr(ctx_.mkNot(ctx_.mkOr(enforcing)), ctx_.mkOr(widening));
  const Expr proxy_allows = ctx_.mkAnd({ctx_.mkOr(http_class), ctx_.mkNot(ctx_.mkOr(http_mixed)),
                                        ctx_.mkOr(wildcard, ctx_.mkOr(http_match))});
  return ctx_.mkAnd(sideAllows(dir, self, peer, proto, port, rule_filter),
                    ctx_.mkOr(ctx_.mkNot(ctx_.mkOr(redirect)), proxy_allows));
}

Expr Encoder::flowAllowsRequest(const SymFlow& f, const model::HttpRequest& req,
                                const std::vector<bool>* rule_filter) {
  const Expr egress =
      sideAllowsRequest(Direction::Egress, f.src, f.dst, f.proto, f.port, req, rule_filter);
  const Expr ingress =
      sideAllowsRequest(Direction::Ingress, f.dst, f.src, f.proto, f.port, req, rule_filter);
  return ctx_.mkAnd(ctx_.mkOr(ctx_.mkNot(isPod(f.src)), egress),
                    ctx_.mkOr(ctx_.mkNot(isPod(f.dst)), ingress));
}

Encoder::FlowVerdict Encoder::flowVerdict(const SymFlow& f, const std::vector<bool>* rule_filter) {
  // A side redirects when nothing denies and an L7 rule matches (its precedence beats
  // every plain allow, as in Engine::rulePrecedence).
  auto redirects = [&](Direction dir, const SymEndpoint& self, const SymEndpoint& peer) {
    SideParts p = sideParts(dir, self, peer, f.proto, f.port, rule_filter);
    return ctx_.mkAnd({isPod(self), ctx_.mkNot(ctx_.mkOr(p.deny)), ctx_.mkOr(p.redirect)});
  };
  const Expr allowed = flowAllowed(f, rule_filter);
  const Expr l7 = ctx_.mkOr(redirects(Direction::Egress, f.src, f.dst),
                            redirects(Direction::Ingress, f.dst, f.src));
  return {.allowed = allowed, .l7 = ctx_.mkAnd(allowed, l7)};
}

}  // namespace membrane::verify
