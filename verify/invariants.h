// SPDX-License-Identifier: Apache-2.0
// Invariant files (apiVersion membrane/v1, kind Invariants): reachability and isolation
// properties that `membrane verify` proves or refutes with a witness flow.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/cluster.h"
#include "model/diagnostics.h"
#include "model/l7.h"
#include "model/labels.h"
#include "model/policy.h"
#include "verify/encode.h"

namespace membrane::verify {

// One end of the flows an invariant talks about. Pod fields (namespace, podSelector,
// namespaceSelector) are ANDed; entity, cidr and pod stand alone; nothing set = anything.
struct PeerSpec {
  std::optional<std::string> namespace_;
  std::optional<model::LabelSelector> pod_selector;        // k8s: keys
  std::optional<model::LabelSelector> namespace_selector;  // keys io.cilium.k8s.namespace.labels.*
  std::optional<std::string> entity;  // all, world, cluster, host, remote-node, kube-apiserver, ...
  std::optional<model::CidrSpec> cidr;
  std::optional<std::string> pod;  // "namespace/name" of an existing pod
  // "namespace/name" of a Service (`to` only): expandServiceInvariants() replaces the
  // invariant by one per backend before anything is proved; those keep it beside the
  // backend's pod or cidr, which alone decide.
  std::optional<std::string> service;
  bool isAny() const;
  bool isPodSpec() const { return namespace_ || pod_selector || namespace_selector; }
  // The pod selector of namespace + podSelector + namespaceSelector (keys as on identities).
  model::LabelSelector podLabelSelector() const;
  std::string str() const;
};

struct PortRange {
  uint8_t protocol = model::kProtoTCP;  // kProtoAny = TCP, UDP and SCTP
  uint16_t port = 0;                    // ICMP: the type
  uint16_t end_port = 0;                // inclusive; 0 with port 0: every port
  std::string str() const;
};

enum class Expect { Deny, Allow };

struct Invariant {
  std::string name;
  std::string description;
  Expect expect = Expect::Deny;
  PeerSpec from;
  PeerSpec to;
  std::vector<PortRange> ports;  // empty: every protocol and port
  Scope scope = Scope::Any;
  // A vacuous invariant (an end that matches nothing that could exist) passes instead of
  // failing: for invariants that guard against something that must stay impossible.
  bool allow_vacuous = false;
  // An HTTP request (`http: {method, path, host, headers}`): the invariant is about that
  // request on TCP flows. A flow policy redirects to the proxy is decided by the proxy's
  // rules (model/l7_decide.h) instead of being L7-restricted, so `allow` means every such
  // flow carries the request and `deny` that none does.
  std::optional<model::HttpRequest> http;
  model::SourceLoc loc;
};

struct InvariantFile {
  std::string path;
  std::vector<Invariant> invariants;
};

// Parses a file; every problem goes to `diags` with file:line:column and the field.
InvariantFile loadInvariants(const std::string& path, model::Diagnostics& diags);
InvariantFile parseInvariants(const std::string& name, const std::string& text,
                              model::Diagnostics& diags);

// Replaces every invariant whose `to` is a Service by one invariant per backend that takes new
// connections (a ready endpoint): `to` becomes the backend pod (or its address, /32, when it is
// no pod), the ports the Service ports' target ports on that backend, the name
// "<name>@<namespace>.<pod>" (or "@<address>") and the description names the Service port and
// the backend. `ports` of such an invariant must be ports of the Service (absent: all of them).
// Errors (unknown Service or port, no backend for an allow) go to `diags`.
void expandServiceInvariants(const model::Cluster& cluster, InvariantFile& file,
                             model::Diagnostics& diags);

std::string_view expectName(Expect e);
std::string_view scopeName(Scope s);

}  // namespace membrane::verify
