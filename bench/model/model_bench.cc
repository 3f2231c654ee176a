// SPDX-License-Identifier: Apache-2.0
// model_bench: load, compile and connectivity on generated clusters, each configuration in
// a child process so that its peak memory (max RSS) is its own. Every time is also given as
// a ratio to a baseline measured in the same run on the same text: parsing the YAML with
// yaml-cpp and nothing else.
//
//   model_bench [--quick]      (MEMBRANE_BENCH_QUICK=1 does the same)
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "model/connectivity.h"
#include "model/loader.h"

namespace {

using namespace membrane;
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// `pods` pods in `workloads` deployments over 20 namespaces, `policies` policies: CNPs and
// KNPs selecting one deployment, allowing two others on ports, some deny and CIDR rules.
std::string clusterYaml(int pods, int workloads, int policies) {
  std::ostringstream o;
  for (int n = 0; n < 20; ++n) {
    o << "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns-" << n << ", labels: {team: t"
      << n % 5 << "}}\n---\n";
  }
  const char* tiers[] = {"front", "back", "db"};
  const int replicas = std::max(1, pods / workloads);
  for (int w = 0; w < workloads; ++w) {
    o << "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app-" << w << ", namespace: ns-"
      << w % 20 << "}\nspec:\n  replicas: " << replicas
      << "\n  template:\n    metadata: {labels: {app: app-" << w << ", tier: " << tiers[w % 3]
      << ", pod-template-hash: h" << w
      << "}}\n    spec: {containers: [{name: c, ports: [{containerPort: 8080, name: "
         "http}]}]}\n---\n";
  }
  for (int i = 0; i < policies; ++i) {
    const int self = (i * 7) % workloads;
    const int a = (self + 1) % workloads, b = (self + 2 + i % 5) % workloads;
    if (i % 4 == 3) {
      o << "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k-" << i
        << ", namespace: ns-" << self % 20 << "}\nspec:\n  podSelector: {matchLabels: {app: app-"
        << self << "}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {team: t"
        << i % 5
        << "}}\n      podSelector: {matchLabels: {tier: front}}\n    ports: [{port: http}, {port: "
        << 9000 + i % 50 << ", endPort: " << 9010 + i % 50 << "}]\n---\n";
      continue;
    }
    o << "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p-" << i
      << ", namespace: ns-" << self % 20 << "}\nspec:\n  endpointSelector: {matchLabels: {app: app-"
      << self << "}}\n  ingress:\n  - fromEndpoints:\n    - {matchLabels: {app: app-" << a
      << ", k8s:io.kubernetes.pod.namespace: ns-" << a % 20 << "}}\n    - {matchLabels: {app: app-"
      << b << ", k8s:io.kubernetes.pod.namespace: ns-" << b % 20
      << "}}\n    toPorts: [{ports: [{port: \"" << 8000 + i % 100 << "\", protocol: TCP}]}]\n";
    if (i % 7 == 0) o << "  ingressDeny:\n  - fromEntities: [world]\n";
    if (i % 5 == 0) {
      o << "  egress:\n  - toCIDRSet: [{cidr: 10." << i % 256 << ".0.0/16, except: [10." << i % 256
        << ".1.0/24]}]\n    toPorts: [{ports: [{port: \"443\", protocol: TCP}]}]\n"
        << "  - toEndpoints: [{matchLabels: {tier: db}}]\n";
    }
    o << "---\n";
  }
  return o.str();
}

struct Config {
  int pods, workloads, policies;
  bool matrix;
};

struct Measure {
  double yaml_s = 0, load_s = 0, engine_s = 0, compile_s = 0, matrix_s = 0;
  long identities = 0, rules = 0, entries = 0, conns = 0;
  long max_rss_kb = 0;
};

// Runs in the child: fills `m`.
void run(const Config& c, Measure& m) {
  const std::string text = clusterYaml(c.pods, c.workloads, c.policies);
  auto t = Clock::now();
  auto docs = YAML::LoadAll(text);
  m.yaml_s = secondsSince(t);
  docs.clear();
  t = Clock::now();
  auto loaded = model::loadClusterFromTexts({{"gen.yaml", text}});
  m.load_s = secondsSince(t);
  if (!loaded.diags.ok()) {
    std::cerr << loaded.diags.errors()[0].str() << "\n";
    std::exit(2);
  }
  const model::Cluster& cl = loaded.cluster;
  t = Clock::now();
  model::Engine engine(cl);
  m.engine_s = secondsSince(t);
  // Policy work is per identity: one compile per distinct identity.
  std::vector<bool> seen_identity;
  std::vector<size_t> reps;
  {
    std::vector<model::IdentityId> ids;
    for (size_t i = 0; i < cl.pods.size(); ++i) {
      if (std::find(ids.end() - std::min<size_t>(ids.size(), 1), ids.end(), cl.pods[i].identity) ==
          ids.end()) {
        ids.push_back(cl.pods[i].identity);
        reps.push_back(i);
      }
    }
  }
  // One cold pass: it includes selecting each rule's peers, which compile needs.
  t = Clock::now();
  for (size_t i : reps) m.entries += static_cast<long>(engine.compile(i).entries.size());
  m.compile_s = secondsSince(t);
  if (c.matrix) {
    t = Clock::now();
    m.conns = static_cast<long>(model::computeConnectivity(engine).size());
    m.matrix_s = secondsSince(t);
  }
  for (const auto& [id, ident] : cl.identities)
    m.identities += ident.kind == model::IdentityKind::Cluster;
  m.rules = static_cast<long>(cl.policies.rules.size());
}

Measure runIsolated(const Config& c) {
  int fd[2];
  if (pipe(fd) != 0) std::exit(1);
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    Measure m;
    run(c, m);
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    m.max_rss_kb = ru.ru_maxrss;
    if (write(fd[1], &m, sizeof m) != sizeof m) _exit(1);
    _exit(0);
  }
  close(fd[1]);
  Measure m;
  if (read(fd[0], &m, sizeof m) != sizeof m) std::cerr << "child failed\n";
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = (argc > 1 && std::strcmp(argv[1], "--quick") == 0) ||
                     (std::getenv("MEMBRANE_BENCH_QUICK") &&
                      std::string(std::getenv("MEMBRANE_BENCH_QUICK")) == "1");
  std::vector<Config> configs = {
      {1000, 100, 100, true},      {1000, 100, 1000, true},       {10000, 1000, 1000, true},
      {10000, 1000, 100, true},    {10000, 1000, 10000, true},    {100000, 1000, 1000, true},
      {100000, 1000, 10000, true}, {100000, 10000, 10000, false},
  };
  if (quick) configs = {{1000, 100, 100, true}, {10000, 1000, 1000, true}};
  if (const char* only = std::getenv("MEMBRANE_BENCH_ONLY")) {  // "pods,workloads,policies"
    Config c{0, 0, 0, true};
    if (std::sscanf(only, "%d,%d,%d", &c.pods, &c.workloads, &c.policies) == 3) configs = {c};
  }
  std::printf("%-8s %-9s %-8s %-10s | %-9s %-8s %-7s %-9s %-9s | %-9s %-8s %-9s | %-8s\n", "pods",
              "workloads", "policies", "identities", "yaml(s)", "load(s)", "xyaml", "engine(s)",
              "compile(s)", "matrix(s)", "conns", "entries", "peakMiB");
  for (const auto& c : configs) {
    Measure m = runIsolated(c);
    std::printf(
        "%-8d %-9d %-8d %-10ld | %-9.3f %-8.3f %-7.2f %-9.3f %-9.3f | %-9.3f %-8ld %-9ld | "
        "%-8.1f\n",
        c.pods, c.workloads, c.policies, m.identities, m.yaml_s, m.load_s, m.load_s / m.yaml_s,
        m.engine_s, m.compile_s, c.matrix ? m.matrix_s : -1.0, m.conns, m.entries,
        m.max_rss_kb / 1024.0);
    std::fflush(stdout);
  }
  // Scaling a deployment must not change policy work: 100 deployments with 1 and with 1,000
  // replicas, same policies. compile ratio ~1 means the work follows identities, not pods.
  // Best of three runs each: the machine is shared and the times are short.
  auto best = [](const Config& c) {
    Measure b = runIsolated(c);
    for (int i = 0; i < 2; ++i) {
      Measure m = runIsolated(c);
      b.compile_s = std::min(b.compile_s, m.compile_s);
      b.engine_s = std::min(b.engine_s, m.engine_s);
    }
    return b;
  };
  Measure one = best({100, 100, 500, false});
  Measure many = best({quick ? 10000 : 100000, 100, 500, false});
  std::printf(
      "\nreplica scaling (100 deployments, 500 policies): compile %.4f s at 1 replica, %.4f s at "
      "%d "
      "replicas: ratio %.2f; engine ratio %.2f\n",
      one.compile_s, many.compile_s, quick ? 100 : 1000, many.compile_s / one.compile_s,
      many.engine_s / one.engine_s);
  return 0;
}
