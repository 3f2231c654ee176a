// SPDX-License-Identifier: Apache-2.0
// Property: on small generated clusters, a `scope: existing` invariant holds exactly when
// exhaustive enumeration (every pair of today's pods, reserved identities, a representative
// of every address region and port region) through model::Engine finds no violation.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <set>

#include "tests/support/cluster_gen.h"
#include "tests/verify/enumerate.h"
#include "verify/verifier.h"

namespace membrane::verify {
namespace {

using oracle::findViolation;

rc::Gen<PeerSpec> genPeer() {
  return rc::gen::exec([] {
    PeerSpec p;
    switch (*rc::gen::inRange(0, 6)) {
      case 0:
        break;  // anything
      case 1:
        p.namespace_ = *rc::gen::elementOf(std::vector<std::string>{"prod", "dev"});
        break;
      case 2: {
        model::LabelSelector s;
        s.add({.source = "k8s",
               .key = "app",
               .op = model::SelectorOp::In,
               .values = {*rc::gen::elementOf(std::vector<std::string>{"web", "api", "db"})}});
        p.pod_selector = s;
        break;
      }
      case 3:
        p.entity = *rc::gen::elementOf(std::vector<std::string>{"world", "host", "cluster", "all"});
        break;
      case 4:
        p.cidr = model::CidrSpec{.cidr = *model::parseCidr("1.1.0.0/16", nullptr),
                                 .except = {*model::parseCidr("1.1.1.0/24", nullptr)}};
        break;
      default: {
        model::LabelSelector s;
        s.add({.source = "k8s",
               .key = "io.cilium.k8s.namespace.labels.env",
               .op = model::SelectorOp::In,
               .values = {"dev"}});
        p.namespace_selector = s;
      }
    }
    return p;
  });
}

rc::Gen<Invariant> genInvariant() {
  return rc::gen::exec([] {
    Invariant inv{.name = "generated", .scope = Scope::Existing};
    inv.expect = *rc::gen::arbitrary<bool>() ? Expect::Deny : Expect::Allow;
    inv.from = *genPeer();
    inv.to = *genPeer();
    switch (*rc::gen::inRange(0, 4)) {
      case 0:
        break;
      case 1:
        inv.ports.push_back({.protocol = model::kProtoTCP, .port = 80, .end_port = 80});
        break;
      case 2:
        inv.ports.push_back({.protocol = model::kProtoTCP, .port = 8000, .end_port = 8100});
        inv.ports.push_back({.protocol = model::kProtoUDP, .port = 53, .end_port = 53});
        break;
      default:
        inv.ports.push_back({.protocol = model::kProtoICMP, .port = 8, .end_port = 8});
    }
    return inv;
  });
}

RC_GTEST_PROP(Existing, ScopeExistingEqualsExhaustiveEnumeration, ()) {
  const auto gen = *testing::genCluster();
  const auto loaded = testing::loadGenerated(gen);
  const Invariant inv = *genInvariant();
  Verifier v(loaded.cluster, {.timeout_ms = 10000});
  const InvariantResult r = v.check(inv);
  RC_ASSERT(r.outcome != Outcome::Unknown);
  const bool violated = findViolation(loaded.cluster, inv).has_value();
  RC_ASSERT((r.outcome == Outcome::Violated) == violated);
  if (r.witness) RC_ASSERT(r.witness->agrees());
}

}  // namespace
}  // namespace membrane::verify
