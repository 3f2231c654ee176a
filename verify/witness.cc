// SPDX-License-Identifier: Apache-2.0
#include "verify/witness.h"

#include <algorithm>

#include "model/identity.h"
#include "model/l7_decide.h"

namespace membrane::verify {
namespace {

const std::string kNsKey(model::kLabelPodNamespace);
const std::string kClusterKey(model::kLabelCluster);
const std::string kSaKey(model::kLabelServiceAccount);
const std::string kNsLabelsPrefix(model::kLabelNamespaceLabelsPrefix);

std::string mapStr(const std::map<std::string, std::string>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += (s.empty() ? "" : ", ") + k + "=" + v;
  return "{" + s + "}";
}

// Adds a hypothetical pod (and, when needed, its namespace) to `c`; returns its index.
size_t addHypotheticalPod(model::Cluster& c, WitnessEnd& w, model::IdentityId id) {
  model::Namespace* ns = nullptr;
  for (auto& n : c.namespaces) {
    if (n.name == w.namespace_) ns = &n;
  }
  if (ns == nullptr) {
    c.namespaces.push_back({.name = w.namespace_});
    ns = &c.namespaces.back();
  }
  if (!ns->declared || ns->labels.empty()) {
    for (const auto& [k, v] : w.namespace_labels) ns->labels[k] = v;
  }
  ns->labels["kubernetes.io/metadata.name"] = w.namespace_;  // as Kubernetes sets it
  model::Pod pod{.namespace_ = w.namespace_, .name = "hypothetical-" + std::to_string(id)};
  pod.labels = model::StringMap(w.labels.begin(), w.labels.end());
  pod.service_account = w.service_account;
  pod.ports = w.ports;
  pod.identity = id;
  pod.workload = c.workloads.size();
  c.workloads.push_back({.kind = "Pod", .namespace_ = pod.namespace_, .name = pod.name});
  model::Identity ident{.id = id,
                        .kind = model::IdentityKind::Cluster,
                        .labels = model::podIdentityLabels(c, pod),
                        .endpoint_count = 1};
  for (const auto& cp : pod.ports) ident.named_ports.emplace(cp.name, cp);
  c.identities[id] = std::move(ident);
  c.pods.push_back(std::move(pod));
  return c.pods.size() - 1;
}

}  // namespace

WitnessEnd decodeEndpoint(Encoder& enc, const SymEndpoint& e) {
  smt::Context& ctx = enc.ctx();
  const Universe& u = enc.universe();
  WitnessEnd w;
  w.kind = ctx.intValue(e.kind);
  w.addr = static_cast<model::Ipv4>(ctx.bvValue(e.addr));
  if (w.kind != kKindPod) return w;
  if (e.scope == Scope::Existing) {
    w.cls = static_cast<size_t>(ctx.intValue(e.cls));
    return w;
  }
  w.hypothetical = true;
  w.service_account = "default";
  for (const auto& [key, var] : e.labels) {
    auto v = u.value(key, ctx.intValue(var));
    if (!v) continue;
    if (key == kNsKey) {
      w.namespace_ = *v;
    } else if (key == kSaKey) {
      w.service_account = *v;
    } else if (key == namespaceNameLabelKey()) {
      continue;  // implied by the namespace's name (the encoding ties the two together)
    } else if (key.starts_with(kNsLabelsPrefix)) {
      w.namespace_labels[key.substr(kNsLabelsPrefix.size())] = *v;
    } else if (key != kClusterKey) {
      w.labels[key] = *v;
    }
  }
  for (const auto& [name, np] : e.named_ports) {
    if (!ctx.boolValue(np.present)) continue;
    w.ports.push_back({.name = name,
                       .port = static_cast<uint16_t>(ctx.intValue(np.port)),
                       .protocol = static_cast<uint8_t>(ctx.intValue(np.proto))});
  }
  return w;
}

std::string WitnessEnd::describe(const model::Cluster& c) const {
  if (kind == kKindExternal) return "external address " + model::formatIpv4(addr);
  if (kind != kKindPod) {
    return std::string(model::reservedIdentityName(static_cast<model::IdentityId>(kind))) +
           " (reserved identity " + std::to_string(kind) + ")";
  }
  if (!hypothetical && pod && *pod < c.pods.size()) {
    const model::Pod& p = c.pods[*pod];
    std::string s = "pod " + p.ref();
    if (p.ip) s += " (" + model::formatIpv4(*p.ip) + ")";
    s += " identity " + std::to_string(p.identity);
    if (const model::Identity* ident = c.identity(p.identity)) s += " " + ident->labels.str();
    return s;
  }
  std::string s = "a pod that could exist: namespace " + namespace_ + ", labels " + mapStr(labels);
  // A declared namespace's labels are fixed (the encoding ties them to its name); the model
  // only distinguishes the values that selectors mention, so print the real ones.
  const model::Namespace* declared = c.findNamespace(namespace_);
  if (declared && declared->declared) {
    s += " (an existing namespace)";
  } else if (!namespace_labels.empty()) {
    s += ", namespace labels " + mapStr(namespace_labels);
  }
  for (const auto& cp : ports) {
    s += ", port " + cp.name + "=" + std::to_string(cp.port) + "/" +
         std::string(model::protocolName(cp.protocol));
  }
  return s;
}

std::string Witness::flowStr() const {
  std::string s(model::protocolName(protocol));
  if (protocol == model::kProtoICMP) return s + " type " + std::to_string(port);
  return s + " " + std::to_string(port);
}

Witness makeWitness(Encoder& enc, const SymFlow& f, const Encoder::FlowVerdict& v,
                    std::optional<size_t> src_pod, std::optional<size_t> dst_pod,
                    const model::HttpRequest* req, const smt::Expr* req_allowed) {
  smt::Context& ctx = enc.ctx();
  Witness w{.src = decodeEndpoint(enc, f.src), .dst = decodeEndpoint(enc, f.dst)};
  // Both ends in "some other namespace" with different labels are two namespaces: name the
  // destination's apart (still a name no selector mentions).
  if (w.src.hypothetical && w.dst.hypothetical && w.src.namespace_ == w.dst.namespace_ &&
      w.src.namespace_labels != w.dst.namespace_labels) {
    const Universe& u = enc.universe();
    std::string name = w.dst.namespace_ + "-dst";
    while (u.code(kNsKey, name) != kCodeOther) name += "x";
    w.dst.namespace_ = name;
  }
  w.protocol = static_cast<uint8_t>(ctx.intValue(f.proto));
  w.port = static_cast<uint16_t>(ctx.intValue(f.port));
  w.smt_allowed = ctx.boolValue(v.allowed);
  w.smt_l7 = ctx.boolValue(v.l7);
  // Replay on a copy with the hypothetical pods added; identity numbers above any allocated.
  model::Cluster c = enc.cluster();
  model::IdentityId next = model::kLocalIdentityScope - 1;
  for (WitnessEnd* e : {&w.src, &w.dst}) {
    if (e->kind != kKindPod) continue;
    if (e->hypothetical) {
      e->pod = addHypotheticalPod(c, *e, next--);
    } else if (e->cls && *e->cls < enc.classes().size()) {
      e->pod = enc.classes()[*e->cls].pods.front();
      // Two endpoints of one class: use another pod of it for the destination.
      if (e == &w.dst && w.src.pod == e->pod && enc.classes()[*e->cls].pods.size() > 1) {
        e->pod = enc.classes()[*e->cls].pods[1];
      }
      const auto& members = enc.classes()[*e->cls].pods;
      const std::optional<size_t> wanted = e == &w.src ? src_pod : dst_pod;
      if (wanted && std::find(members.begin(), members.end(), *wanted) != members.end()) {
        e->pod = wanted;
      }
    }
  }
  model::Engine engine(c);
  for (WitnessEnd* e : {&w.src, &w.dst}) {
    if (e->pod) {
      e->identity = c.pods[*e->pod].identity;
    } else if (e->kind == kKindExternal) {
      e->identity = engine.resolve(e->addr, "");
    } else {
      e->identity = static_cast<model::IdentityId>(e->kind);
    }
  }
  w.verdict.egress.direction = model::Direction::Egress;
  w.verdict.ingress.direction = model::Direction::Ingress;
  if (w.src.pod) {
    w.verdict.egress =
        engine.decide(*w.src.pod, model::Direction::Egress, w.dst.identity, w.protocol, w.port);
  }
  if (w.dst.pod) {
    w.verdict.ingress =
        engine.decide(*w.dst.pod, model::Direction::Ingress, w.src.identity, w.protocol, w.port);
  }
  w.verdict.allowed = w.verdict.egress.allowed && w.verdict.ingress.allowed;
  // As model::Engine::evaluate: L7-restricted when an L7 rule decides a side and no side denies.
  const auto passes = [](const model::SideDecision& d) { return d.allowed || d.l7_restricted; };
  w.verdict.l7_restricted = (w.verdict.egress.l7_restricted || w.verdict.ingress.l7_restricted) &&
                            passes(w.verdict.egress) && passes(w.verdict.ingress);
  for (const auto* side : {&w.verdict.egress, &w.verdict.ingress}) {
    auto& out = side == &w.verdict.egress ? w.egress_rules : w.ingress_rules;
    for (size_t id : side->rules) {
      const model::PolicyRule& r = c.policies.rules[id];
      out.push_back(r.describe());
      if (!side->l7_restricted || r.l7.empty()) continue;
      std::string types;
      for (const auto& l : r.l7) types += (types.empty() ? "" : "/") + l.type;
      w.l7_rules.push_back(types + ": " + r.describe());
    }
  }
  if (req != nullptr && req_allowed != nullptr) {
    w.smt_request = ctx.boolValue(*req_allowed);
    const model::Flow flow{.src = {.pod = w.src.pod, .ip = w.src.addr},
                           .dst = {.pod = w.dst.pod, .ip = w.dst.addr},
                           .protocol = w.protocol,
                           .port = w.port};
    const model::HttpVerdict h = model::decideHttp(engine, flow, w.verdict, *req);
    w.engine_request = h.allowed;
    w.http_explain = model::explainHttp(h, *req);
  }
  // Keep the descriptions valid after the copy is gone.
  for (WitnessEnd* e : {&w.src, &w.dst}) {
    if (e->hypothetical) e->pod.reset();
  }
  return w;
}

}  // namespace membrane::verify
