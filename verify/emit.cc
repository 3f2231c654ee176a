// SPDX-License-Identifier: Apache-2.0
#include "verify/emit.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_set>

namespace membrane::verify {
namespace {

// A YAML double-quoted scalar (JSON escapes are valid YAML).
std::string q(std::string_view s) {
  std::string o = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\';
    o += ch;
  }
  return o + "\"";
}

std::string flowMap(const std::map<std::string, std::string>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += (s.empty() ? "" : ", ") + q(k) + ": " + q(v);
  return "{" + s + "}";
}

// The node a pod end runs on; witness pods join the other end's node so that `host` and
// same-node paths mean what they meant in the proof.
std::string nodeOf(const model::Cluster& c, const WitnessEnd& e) {
  if (e.pod && !e.hypothetical && !c.pods[*e.pod].node_name.empty())
    return c.pods[*e.pod].node_name;
  return c.nodes.empty() ? "node-1" : c.nodes.front().name;
}

// An address no pod, node or earlier witness uses: inside the node's pod CIDR when it has
// one (so native routing reaches it), else from 10.254.0.0/16.
model::Ipv4 freeAddress(const model::Cluster& c, const std::string& node,
                        std::unordered_set<model::Ipv4>& taken) {
  for (const auto& p : c.pods) {
    if (p.ip) taken.insert(*p.ip);
  }
  for (const auto& n : c.nodes) {
    if (n.internal_ip) taken.insert(*n.internal_ip);
  }
  model::Ipv4 lo = 0x0AFE0001;  // 10.254.0.1
  model::Ipv4 hi = 0x0AFEFFFE;
  if (const model::NodeInfo* n = c.findNode(node); n && n->pod_cidr && !n->pod_cidr->ipv6) {
    lo = n->pod_cidr->first() + 1;
    hi = n->pod_cidr->last() - 1;
  }
  for (model::Ipv4 a = hi; a >= lo; --a) {
    if (taken.insert(a).second) return a;
  }
  return 0;
}

struct End {
  std::string name;  // row/column of the table
  std::string peer;  // value under peers: (external and host ends)
  std::string yaml;  // witness objects (hypothetical pods)
};

// `ns_written`: namespaces a witness object already declares (both ends may be new pods of
// one undeclared namespace; one manifest set may hold each object once).
std::string witnessPodYaml(const model::Cluster& c, const WitnessEnd& e, const std::string& name,
                           const std::string& node, model::Ipv4 addr,
                           std::set<std::string>& ns_written) {
  std::ostringstream o;
  const model::Namespace* ns = c.findNamespace(e.namespace_);
  if ((ns == nullptr || !ns->declared) && ns_written.insert(e.namespace_).second) {
    o << "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " << q(e.namespace_)
      << "\n  labels: " << flowMap(e.namespace_labels) << "\n---\n";
  }
  o << "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " << q(name)
    << "\n  namespace: " << q(e.namespace_) << "\n  labels: " << flowMap(e.labels)
    << "\nspec:\n  nodeName: " << q(node) << "\n";
  if (e.service_account != "default") o << "  serviceAccountName: " << q(e.service_account) << "\n";
  o << "  containers:\n  - name: witness\n    ports:";
  if (e.ports.empty()) o << " []";
  for (const auto& cp : e.ports) {
    o << "\n    - {name: " << q(cp.name) << ", containerPort: " << cp.port
      << ", protocol: " << model::protocolName(cp.protocol) << "}";
  }
  o << "\nstatus:\n  podIP: " << model::formatIpv4(addr) << "\n---\n";
  return o.str();
}

std::optional<End> endFor(const model::Cluster& c, const WitnessEnd& e, const WitnessEnd& other,
                          const std::string& role, std::unordered_set<model::Ipv4>& taken,
                          std::set<std::string>& ns_written, std::string* why) {
  if (e.kind == kKindExternal) {
    return End{.name = "witness-" + role, .peer = model::formatIpv4(e.addr)};
  }
  if (e.kind == model::kIdentityHost) {
    // `host` is the other end's own node (its pods' allow-localhost peer).
    const std::string node = nodeOf(c, other);
    if (c.findNode(node) == nullptr) {
      *why = "the witness " + role + " is the host of node " + node +
             ", which has no Node object with an InternalIP";
      return std::nullopt;
    }
    return End{.name = "witness-" + role, .peer = "node:" + node};
  }
  if (e.kind != kKindPod) {
    *why = "the witness " + role + " is reserved identity " + e.describe(c) +
           ", which membrane sim cannot play";
    return std::nullopt;
  }
  if (!e.hypothetical && e.pod) return End{.name = c.pods[*e.pod].ref()};
  const std::string name = "witness-" + role;
  const std::string node = other.kind == kKindPod ? nodeOf(c, other) : nodeOf(c, e);
  const model::Ipv4 addr = freeAddress(c, node, taken);
  if (addr == 0) {
    *why = "no free address for the witness " + role;
    return std::nullopt;
  }
  return End{.name = e.namespace_ + "/" + name,
             .yaml = witnessPodYaml(c, e, name, node, addr, ns_written)};
}

}  // namespace

std::optional<EmittedScenario> emittedScenario(const model::Cluster& c, const InvariantResult& r,
                                               std::string* why) {
  if (r.outcome != Outcome::Violated || !r.witness || r.invariant == nullptr) {
    *why = "not violated";
    return std::nullopt;
  }
  const Witness& w = *r.witness;
  if (r.invariant->http) {
    *why = "an HTTP request: membrane sim probes connections, not requests";
    return std::nullopt;
  }
  if (w.smt_l7) {
    *why = "L7-restricted: membrane sim has no L7 verdict to expect";
    return std::nullopt;
  }
  if (w.protocol == model::kProtoICMP && w.port != 8) {
    *why = "ICMP type " + std::to_string(w.port) + ": membrane sim probes echo requests (8) only";
    return std::nullopt;
  }
  std::unordered_set<model::Ipv4> taken;
  std::set<std::string> ns_written;
  auto src = endFor(c, w.src, w.dst, "src", taken, ns_written, why);
  auto dst = src ? endFor(c, w.dst, w.src, "dst", taken, ns_written, why) : std::nullopt;
  if (!src || !dst) return std::nullopt;
  const Invariant& inv = *r.invariant;
  EmittedScenario s{.name = inv.name, .witness_yaml = src->yaml + dst->yaml};
  if (!s.witness_yaml.empty()) {
    s.witness_yaml = "# SPDX-License-Identifier: Apache-2.0\n# Witness of invariant " + inv.name +
                     ": " + w.src.describe(c) + " -> " + w.dst.describe(c) + "\n" + s.witness_yaml;
  }
  std::ostringstream e;
  e << "# SPDX-License-Identifier: Apache-2.0\n"
    << "description: >-\n  membrane verify --emit-scenario: invariant " << inv.name << " ("
    << inv.loc.str() << ", expect " << expectName(inv.expect) << ") was violated by " << w.flowStr()
    << "; the probe expects what the invariant demands.\n";
  if (!src->peer.empty() || !dst->peer.empty()) {
    e << "peers:\n";
    for (const End* x : {&*src, &*dst}) {
      if (!x->peer.empty()) e << "  " << x->name << ": " << q(x->peer) << "\n";
    }
  }
  e << "steps:\n  - name: witness\n";
  if (!s.witness_yaml.empty()) e << "    apply: [witness.yaml]\n";
  e << "    probes:\n      - protocol: " << model::protocolName(w.protocol) << "\n";
  if (w.protocol != model::kProtoICMP) e << "        port: " << w.port << "\n";
  e << "        table: |\n          from\\to  " << dst->name << "\n          " << src->name << "  "
    << (inv.expect == Expect::Allow ? "." : "X") << "\n";
  s.expect_yaml = e.str();
  return s;
}

namespace {

bool writeFile(const std::filesystem::path& p, const std::string& text, std::string* error) {
  std::ofstream out(p);
  out << text;
  if (!out.flush()) {
    *error = "cannot write " + p.string();
    return false;
  }
  return true;
}

}  // namespace

bool emitScenarios(const std::string& dir, const model::Cluster& c,
                   const std::vector<std::string>& manifest_files,
                   const std::vector<InvariantResult>& rs, EmitReport& report, std::string* error) {
  std::string manifests;
  for (const auto& f : manifest_files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) {
      *error = "cannot read " + f;
      return false;
    }
    manifests +=
        (manifests.empty() ? "" : "\n---\n") + ("# membrane verify read " + f + "\n") + ss.str();
  }
  for (const auto& r : rs) {
    if (r.outcome != Outcome::Violated) continue;
    std::string why;
    auto s = emittedScenario(c, r, &why);
    if (!s) {
      report.skipped.push_back(r.invariant->name + ": " + why);
      continue;
    }
    std::string name = s->name;
    for (char& ch : name) {
      if (ch == '/' || ch == '\0') ch = '_';
    }
    const std::filesystem::path d = std::filesystem::path(dir) / name;
    std::error_code ec;
    std::filesystem::create_directories(d, ec);
    if (ec) {
      *error = "cannot create " + d.string() + ": " + ec.message();
      return false;
    }
    if (!writeFile(d / "manifests.yaml", manifests, error) ||
        !writeFile(d / "expect.yaml", s->expect_yaml, error) ||
        (!s->witness_yaml.empty() && !writeFile(d / "witness.yaml", s->witness_yaml, error))) {
      return false;
    }
    report.written.push_back(d.string());
  }
  return true;
}

}  // namespace membrane::verify
