// SPDX-License-Identifier: Apache-2.0
// Invariants whose destination is a Service: one invariant per backend, since policy sees the
// backend after DNAT (docs/verification.md, Services as destinations).
#include "model/mapstate.h"
#include "model/service_view.h"
#include "model/yaml_util.h"
#include "verify/invariants.h"

namespace membrane::verify {
namespace {

std::string portList(const model::Service& s) {
  std::string out;
  for (const auto& p : s.ports) {
    out += (out.empty() ? "" : ", ") + std::to_string(p.port) + "/" +
           std::string(model::protocolName(p.protocol));
  }
  return out.empty() ? "none" : out;
}

void fail(model::Diagnostics& diags, const Invariant& inv, const std::string& field,
          std::string message) {
  diags.error({.loc = inv.loc,
               .object = "invariant " + inv.name,
               .field = field,
               .message = std::move(message)});
}

// The Service port indices the invariant's ports name (all when it names none).
std::optional<std::vector<size_t>> servicePorts(const model::Service& s, const Invariant& inv,
                                                model::Diagnostics& diags) {
  std::vector<size_t> out;
  if (inv.ports.empty()) {
    for (size_t i = 0; i < s.ports.size(); ++i) out.push_back(i);
    return out;
  }
  for (size_t k = 0; k < inv.ports.size(); ++k) {
    const PortRange& r = inv.ports[k];
    std::optional<size_t> found;
    for (size_t i = 0; i < s.ports.size() && r.port == r.end_port; ++i) {
      if (s.ports[i].port == r.port && s.ports[i].protocol == r.protocol) found = i;
    }
    if (!found) {
      fail(diags, inv, model::indexPath("", "ports", k),
           r.str() + " is not a port of Service " + s.ref() + "; expected one of " + portList(s));
      return std::nullopt;
    }
    out.push_back(*found);
  }
  return out;
}

Invariant forBackend(const model::Cluster& c, const model::Service& s, const Invariant& inv,
                     const model::ServiceBackend& b, const std::vector<size_t>& ports) {
  Invariant out = inv;
  out.to = PeerSpec{.service = inv.to.service};  // kept for messages; pod or cidr decides
  std::string who;
  if (b.pod) {
    const model::Pod& p = c.pods[*b.pod];
    out.to.pod = p.ref();
    out.name = inv.name + "@" + p.namespace_ + "." + p.name;
    who = p.ref() + " (" + model::formatIpv4(b.ip) + ")";
  } else {
    std::string why;
    out.to.cidr = model::CidrSpec{.cidr = *model::parseCidr(model::formatIpv4(b.ip) + "/32", &why)};
    out.name = inv.name + "@" + model::formatIpv4(b.ip);
    who = model::formatIpv4(b.ip);
  }
  out.ports.clear();
  std::string mapping;
  for (size_t i : ports) {
    const uint16_t t = s.targetPort(b, i);
    if (t == 0) continue;
    out.ports.push_back({.protocol = s.ports[i].protocol, .port = t, .end_port = t});
    mapping +=
        (mapping.empty() ? "" : ", ") + std::to_string(s.ports[i].port) + "->" + std::to_string(t);
  }
  out.description = "through Service " + s.ref() + " (" + mapping + ") to backend " + who +
                    (inv.description.empty() ? "" : "; " + inv.description);
  return out;
}

}  // namespace

void expandServiceInvariants(const model::Cluster& cluster, InvariantFile& file,
                             model::Diagnostics& diags) {
  std::vector<Invariant> out;
  for (const auto& inv : file.invariants) {
    if (!inv.to.service) {
      out.push_back(inv);
      continue;
    }
    const std::string& ref = *inv.to.service;
    const auto slash = ref.find('/');
    const model::Service* s = cluster.findService(ref.substr(0, slash), ref.substr(slash + 1));
    if (!s) {
      fail(diags, inv, "to.service", "no Service " + ref + " in the loaded manifests");
      continue;
    }
    auto ports = servicePorts(*s, inv, diags);
    if (!ports) continue;
    size_t made = 0;
    for (const auto& b : s->backend_endpoints) {
      if (!b.ready) continue;
      Invariant one = forBackend(cluster, *s, inv, b, *ports);
      // A backend that serves none of the ports takes no such connection: nothing to prove
      // for deny; for allow the connection cannot be made, so the invariant cannot hold.
      if (one.ports.empty() && inv.expect == Expect::Deny) continue;
      if (one.ports.empty()) {
        fail(diags, inv, "to.service",
             "backend " + model::backendName(cluster, b) +
                 " serves none of the ports; an allow cannot hold");
        continue;
      }
      out.push_back(std::move(one));
      ++made;
    }
    if (made == 0 && inv.expect == Expect::Allow) {
      fail(diags, inv, "to.service",
           "Service " + ref + " has no ready backend: no connection through it can be allowed");
    }
  }
  file.invariants = std::move(out);
}

}  // namespace membrane::verify
