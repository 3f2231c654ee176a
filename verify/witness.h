// SPDX-License-Identifier: Apache-2.0
// Witness flows: a satisfying assignment decoded into concrete endpoints, then replayed
// through model::Engine (with hypothetical pods added to a copy of the cluster) so every
// counterexample names the rules that decided it and is checked against the reference
// semantics.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/engine.h"
#include "verify/encode.h"

namespace membrane::verify {

struct WitnessEnd {
  int64_t kind = kKindPod;
  std::optional<size_t> cls;  // an existing class (its first pod stands for it)
  bool hypothetical = false;  // a pod that does not exist today
  std::string namespace_;
  std::map<std::string, std::string> labels;  // the pod's labels that selectors look at
  std::map<std::string, std::string> namespace_labels;
  std::string service_account;
  std::vector<model::ContainerPort> ports;  // hypothetical pods: their named ports
  model::Ipv4 addr = 0;
  // Filled by replay():
  std::optional<size_t> pod;  // index into the replay cluster's pods
  model::IdentityId identity = 0;
  std::string describe(const model::Cluster& cluster) const;
};

struct Witness {
  WitnessEnd src;
  WitnessEnd dst;
  uint8_t protocol = model::kProtoTCP;
  uint16_t port = 0;
  bool smt_allowed = false;  // what the encoding says
  bool smt_l7 = false;       // the encoding: allowed only through an L7 redirect
  model::Verdict verdict;    // what model::Engine says
  std::vector<std::string> egress_rules;
  std::vector<std::string> ingress_rules;
  std::vector<std::string> l7_rules;  // deciding rules with L7 sections: "http: <rule>"
  // Invariants with an HTTP request: whether the flow carries it, per the encoding and per
  // model::decideHttp, and the latter's explanation.
  std::optional<bool> smt_request;
  std::optional<bool> engine_request;
  std::string http_explain;
  // The engine's view in the encoding's terms: `allowed` there includes L7 redirects (no side
  // denies), while model::Verdict::allowed means plainly allowed and L7 flows carry
  // l7_restricted instead.
  bool engineL7() const { return verdict.l7_restricted; }
  bool engineAllowed() const { return verdict.allowed || verdict.l7_restricted; }
  bool agrees() const {
    return smt_allowed == engineAllowed() && smt_l7 == engineL7() && smt_request == engine_request;
  }
  std::string flowStr() const;  // "TCP 5432" / "ICMP type 8"
};

// Reads the endpoints of the current model.
WitnessEnd decodeEndpoint(Encoder& enc, const SymEndpoint& e);
// Builds the witness: decodes, replays through the engine, records the deciding rules.
// An existing end stands for its class by the class's first pod, or by `src_pod`/`dst_pod`
// when that pod is of the class (an invariant's `pod:` end: the witness names that pod).
// With `req` (and `req_allowed`, the encoding's flowAllowsRequest), the witness also records
// both answers for that HTTP request.
Witness makeWitness(Encoder& enc, const SymFlow& f, const Encoder::FlowVerdict& v,
                    std::optional<size_t> src_pod = std::nullopt,
                    std::optional<size_t> dst_pod = std::nullopt,
                    const model::HttpRequest* req = nullptr,
                    const smt::Expr* req_allowed = nullptr);

}  // namespace membrane::verify
