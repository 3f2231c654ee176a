// SPDX-License-Identifier: Apache-2.0
// verify_bench: time to prove 10 invariants (scope any and existing) and to diff two policy
// sets, on synthetic clusters: P pods in P/100 deployments over 10 namespaces, N CNPs each
// selecting one deployment, allowing another on a port, some with deny and CIDR rules.
// The baseline measured in the same run is loading the manifests and building the engine,
// so the ratios say what proving costs on top of what every command already pays.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>

#include "model/connectivity.h"
#include "model/loader.h"
#include "verify/diff.h"
#include "verify/verifier.h"

namespace {

using namespace membrane;

std::string clusterYaml(int pods, int policies, int seed) {
  const int workloads = std::max(10, pods / 100);
  std::ostringstream o;
  for (int n = 0; n < 10; ++n) {
    o << "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns-" << n << ", labels: {team: t" << n
      << "}}\n---\n";
  }
  const char* tiers[] = {"front", "back", "db"};
  for (int w = 0; w < workloads; ++w) {
    o << "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app-" << w << ", namespace: ns-"
      << w % 10 << "}\nspec:\n  replicas: " << pods / workloads
      << "\n  selector: {matchLabels: {app: app-" << w
      << "}}\n  template:\n    metadata: {labels: {app: app-" << w << ", tier: " << tiers[w % 3]
      << "}}\n    spec: {containers: [{name: c, ports: "
      << "[{containerPort: 8080, name: http}]}]}\n---\n";
  }
  for (int i = 0; i < policies; ++i) {
    const int self = (i * 7 + seed) % workloads;
    const int peer = (self + 1 + i % 3) % workloads;
    o << "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p-" << i
      << ", namespace: ns-" << self % 10 << "}\nspec:\n  endpointSelector: {matchLabels: {app: app-"
      << self << "}}\n  ingress:\n  - fromEndpoints: [{matchLabels: {app: app-" << peer
      << ", k8s:io.kubernetes.pod.namespace: ns-" << peer % 10
      << "}}]\n    toPorts: [{ports: [{port: \"" << 8000 + i % 100 << "\", protocol: TCP}]}]\n";
    if (i % 7 == 0) o << "  ingressDeny:\n  - fromEntities: [world]\n";
    if (i % 5 == 0) {
      o << "  egress:\n  - toCIDRSet: [{cidr: 10." << i % 256 << ".0.0/16, except: [10." << i % 256
        << ".1.0/24]}]\n    toPorts: [{ports: [{port: \"443\", protocol: TCP}]}]\n";
    }
    o << "---\n";
  }
  return o.str();
}

std::string invariantsYaml() {
  return R"(apiVersion: membrane/v1
kind: Invariants
invariants:
- {name: i1, expect: deny, from: {entity: world}, to: {namespace: ns-0, podSelector: {matchLabels: {app: app-0}}}}
- {name: i2, expect: deny, from: {namespace: ns-1}, to: {namespace: ns-2, podSelector: {matchLabels: {tier: db}}}, ports: [{port: 22}]}
- {name: i3, expect: allow, from: {namespace: ns-3}, to: {namespace: ns-4}, ports: [{port: 9999}], scope: existing}
- {name: i4, expect: deny, from: {namespace: ns-5, podSelector: {matchLabels: {tier: front}}}, to: {cidr: 10.1.1.0/24}}
- {name: i5, expect: deny, from: {namespaceSelector: {matchLabels: {team: t6}}}, to: {namespace: ns-7}, scope: existing}
- {name: i6, expect: allow, from: {entity: host}, to: {namespace: ns-8}}
- {name: i7, expect: deny, from: {namespace: ns-9, podSelector: {matchLabels: {app: app-9}}}, to: {entity: world}, ports: [{port: 80}]}
- {name: i8, expect: deny, from: {entity: world}, to: {namespace: ns-1, podSelector: {matchLabels: {tier: db}}}, scope: existing}
- {name: i9, expect: allow, from: {namespace: ns-2, podSelector: {matchLabels: {app: app-2}}}, to: {namespace: ns-3, podSelector: {matchLabels: {app: app-3}}}, ports: [{port: 8000, endPort: 8100}]}
- {name: i10, expect: deny, from: {namespace: ns-4}, to: {namespace: ns-4}, ports: [{protocol: UDP}]}
)";
}

struct Fixture {
  model::LoadResult loaded;
  std::unique_ptr<model::Engine> engine;
};

const Fixture& fixture(int pods, int policies, int seed) {
  static std::map<std::tuple<int, int, int>, std::unique_ptr<Fixture>> cache;
  auto& f = cache[{pods, policies, seed}];
  if (!f) {
    f = std::make_unique<Fixture>();
    f->loaded = model::loadClusterFromTexts({{"bench.yaml", clusterYaml(pods, policies, seed)}});
    f->engine = std::make_unique<model::Engine>(f->loaded.cluster);
  }
  return *f;
}

void BM_LoadBaseline(benchmark::State& st) {
  const std::string text =
      clusterYaml(static_cast<int>(st.range(0)), static_cast<int>(st.range(1)), 0);
  for (auto _ : st) {
    auto loaded = model::loadClusterFromTexts({{"bench.yaml", text}});
    model::Engine engine(loaded.cluster);
    benchmark::DoNotOptimize(engine.cluster().pods.size());
  }
}

void BM_Prove10Invariants(benchmark::State& st) {
  const Fixture& f = fixture(static_cast<int>(st.range(0)), static_cast<int>(st.range(1)), 0);
  model::Diagnostics d;
  const auto invs = verify::parseInvariants("bench-invariants.yaml", invariantsYaml(), d);
  int held = 0;
  int unknown = 0;
  int vacuous = 0;
  for (auto _ : st) {
    verify::Verifier v(f.loaded.cluster, {.timeout_ms = 60000});
    held = unknown = vacuous = 0;
    for (const auto& inv : invs.invariants) {
      const auto r = v.check(inv);
      held += r.outcome == verify::Outcome::Holds;
      unknown += r.outcome == verify::Outcome::Unknown;
      vacuous += r.outcome == verify::Outcome::Vacuous;
    }
  }
  st.counters["held"] = held;
  st.counters["unknown"] = unknown;
  st.counters["vacuous"] = vacuous;
  st.counters["rules"] = static_cast<double>(f.loaded.cluster.policies.rules.size());
}

void BM_DiffPolicySets(benchmark::State& st) {
  const int pods = static_cast<int>(st.range(0));
  const int policies = static_cast<int>(st.range(1));
  const Fixture& a = fixture(pods, policies, 0);
  const Fixture& b = fixture(pods, policies, 1);
  size_t entries = 0;
  for (auto _ : st) {
    const auto d =
        verify::diffConnectivity(a.loaded.cluster, model::computeConnectivity(*a.engine),
                                 b.loaded.cluster, model::computeConnectivity(*b.engine));
    entries = d.size();
  }
  st.counters["diff_entries"] = static_cast<double>(entries);
}

void registerAll() {
  const bool quick = std::getenv("MEMBRANE_BENCH_QUICK") != nullptr;
  std::vector<std::pair<int64_t, int64_t>> sizes = {{1000, 100}};
  if (!quick) sizes.insert(sizes.end(), {{10000, 1000}, {100000, 10000}});
  for (auto [pods, policies] : sizes) {
    for (auto [name, fn] : {std::pair{"LoadBaseline", &BM_LoadBaseline},
                            std::pair{"Prove10Invariants", &BM_Prove10Invariants},
                            std::pair{"DiffPolicySets", &BM_DiffPolicySets}}) {
      benchmark::RegisterBenchmark(name, fn)
          ->Args({pods, policies})
          ->ArgNames({"pods", "policies"})
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  registerAll();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
