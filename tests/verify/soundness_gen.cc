// SPDX-License-Identifier: Apache-2.0
#include "tests/verify/soundness_gen.h"

#include <sstream>

#include "tests/support/cluster_gen.h"
#include "verify/emit.h"

namespace membrane::verify::soundness {
namespace {

// qa is never declared by the generated clusters: pods there have free namespace labels.
const std::vector<std::string> kNs = {"prod", "dev", "qa"};
const std::vector<std::string> kTierValues = {"front", "back"};

// genCluster's namespaces, nodes and policies without its pods: the pods come from genPods,
// each with an identity of its own. (Scope any gives a hypothetical pod one port per name;
// several pods of one identity with different ports under a name are exact only in scope
// existing: docs/verification.md, Limits.)
std::string policiesOnly(const std::string& yaml) {
  std::string out;
  size_t pos = 0;
  while (pos < yaml.size()) {
    size_t end = yaml.find("---\n", pos);
    if (end == std::string::npos) end = yaml.size();
    const std::string doc = yaml.substr(pos, end - pos);
    if (doc.find("\nkind: Pod\n") == std::string::npos) out += doc + "---\n";
    pos = end + 4;
  }
  return out;
}

rc::Gen<std::string> genSelector() {
  return rc::gen::elementOf(std::vector<std::string>{
      "{matchLabels: {app: web}}", "{matchLabels: {app: db, tier: back}}",
      "{matchExpressions: [{key: app, operator: NotIn, values: [web, api]}]}",
      "{matchExpressions: [{key: tier, operator: Exists}]}",
      "{matchExpressions: [{key: tier, operator: DoesNotExist}]}",
      "{matchExpressions: [{key: app, operator: In, values: [api, db]}]}"});
}

rc::Gen<std::string> genPeer() {
  return rc::gen::exec([] {
    switch (*rc::gen::inRange(0, 8)) {
      case 0:
        return std::string("{}");
      case 1:
        return "{namespace: " + *rc::gen::elementOf(kNs) + "}";
      case 2:
        return "{podSelector: " + *genSelector() + "}";
      case 3:
        return "{namespace: " + *rc::gen::elementOf(kNs) + ", podSelector: " + *genSelector() + "}";
      case 4:
        return "{namespaceSelector: {matchLabels: {env: " + *rc::gen::elementOf(kNs) + "}}}";
      case 5:
        return "{entity: " +
               *rc::gen::elementOf(
                   std::vector<std::string>{"world", "host", "cluster", "all", "remote-node"}) +
               "}";
      case 6:
        return std::string("{cidr: 1.1.0.0/16, except: [1.1.1.0/24]}");
      default:
        return std::string("{cidr: 0.0.0.0/0}");
    }
  });
}

rc::Gen<std::string> genInvariantYaml() {
  return rc::gen::exec([] {
    std::string y = "apiVersion: membrane/v1\nkind: Invariants\ninvariants:\n- name: generated\n";
    y += std::string("  expect: ") + (*rc::gen::arbitrary<bool>() ? "deny" : "allow") + "\n";
    y += "  from: " + *genPeer() + "\n  to: " + *genPeer() + "\n";
    y += *rc::gen::elementOf(std::vector<std::string>{
        "", "  ports: [{port: 80}]\n",
        "  ports: [{port: 8000, endPort: 8100}, {port: 53, protocol: UDP}]\n",
        "  ports: [{protocol: ICMP, type: 8}]\n", "  ports: [{port: 80, protocol: ANY}]\n"});
    return y;
  });
}

// A flow endpoint of the cluster `c` (base + witness pods) for one end of the witness.
std::optional<model::FlowEndpoint> concreteEnd(const model::Cluster& base, const model::Cluster& c,
                                               const WitnessEnd& e, const WitnessEnd& other,
                                               const std::string& role) {
  if (e.kind == kKindExternal) return model::FlowEndpoint{.ip = e.addr};
  if (e.kind == kKindPod) {
    auto idx = e.hypothetical ? c.findPod(e.namespace_, "witness-" + role)
                              : c.findPod(base.pods[*e.pod].namespace_, base.pods[*e.pod].name);
    if (!idx) return std::nullopt;
    return model::FlowEndpoint{.pod = idx, .ip = *c.pods[*idx].ip};
  }
  // host: the other end's node (emit puts witness pods there too).
  auto other_pod =
      other.hypothetical
          ? c.findPod(other.namespace_, "witness-" + std::string(role == "src" ? "dst" : "src"))
          : other.pod;
  if (!other_pod) return std::nullopt;
  const model::NodeInfo* n = c.findNode(c.pods[*other_pod].node_name);
  if (!n || !n->internal_ip) return std::nullopt;
  return model::FlowEndpoint{.ip = *n->internal_ip};
}

}  // namespace

rc::Gen<std::string> genPods(const std::string& prefix, int first_host, int min, int max) {
  return rc::gen::exec([=] {
    std::ostringstream o;
    if (prefix == "c" && *rc::gen::arbitrary<bool>()) {
      o << "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: qa\n  labels: {env: "
        << *rc::gen::elementOf(kNs) << "}\n---\n";
    }
    const int n = *rc::gen::inRange(min, max + 1);
    for (int i = 0; i < n; ++i) {
      const int node = *rc::gen::inRange(1, 3);
      o << "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " << prefix << i
        << "\n  namespace: " << *rc::gen::elementOf(kNs) << "\n  labels: {uid: " << prefix << i;
      if (*rc::gen::inRange(0, 4) != 0) {
        o << ", app: " << *rc::gen::elementOf(std::vector<std::string>{"web", "api", "db", "x"});
      }
      if (*rc::gen::arbitrary<bool>()) o << ", tier: " << *rc::gen::elementOf(kTierValues);
      o << "}\nspec:\n  nodeName: node-" << node << "\n  containers:\n  - name: c\n    ports:";
      if (*rc::gen::arbitrary<bool>()) {
        o << "\n    - {name: http, containerPort: "
          << *rc::gen::elementOf(std::vector<int>{80, 8080, 8081, 9000}) << ", protocol: TCP}";
      } else {
        o << " []";
      }
      o << "\nstatus:\n  podIP: 10.0." << node << "." << first_host + i << "\n---\n";
    }
    return o.str();
  });
}

model::LoadResult load(const std::string& yaml) {
  return testing::loadGenerated(testing::GeneratedCluster{yaml});
}

Case genCase() {
  Case c{.base = policiesOnly((*testing::genCluster()).yaml) + *genPods("b", 10, 0, 3),
         .invariants = *genInvariantYaml()};
  model::Diagnostics diags;
  InvariantFile f = parseInvariants("generated-invariants.yaml", c.invariants, diags);
  RC_ASSERT(diags.ok());
  c.inv = f.invariants.at(0);
  RC_LOG() << "# policies and pods (verified)\n" << c.base << "# invariants\n" << c.invariants;
  return c;
}

std::optional<ConcreteWitness> concreteWitness(const Case& k, const model::Cluster& base,
                                               const InvariantResult& r) {
  InvariantResult plain = r;
  plain.witness->smt_l7 = false;     // emit refuses L7 witnesses only because sim cannot expect L7
  Invariant no_http = *r.invariant;  // nor HTTP requests; the witness pods are the same
  no_http.http.reset();
  plain.invariant = &no_http;
  std::string why;
  auto s = emittedScenario(base, plain, &why);
  if (!s) return std::nullopt;
  RC_LOG() << "# witness.yaml\n" << s->witness_yaml;
  ConcreteWitness cw{.loaded = load(k.base + s->witness_yaml)};
  const model::Cluster& c = cw.loaded.cluster;
  const Witness& w = *r.witness;
  auto src = concreteEnd(base, c, w.src, w.dst, "src");
  auto dst = concreteEnd(base, c, w.dst, w.src, "dst");
  RC_ASSERT(src.has_value() && dst.has_value());
  cw.flow = {.src = *src, .dst = *dst, .protocol = w.protocol, .port = w.port};
  return cw;
}

}  // namespace membrane::verify::soundness
