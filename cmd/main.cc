// SPDX-License-Identifier: Apache-2.0
// membrane: policy dry-runs, CI gating and inspection of a cluster's network policy.
#include <cstring>
#include <iostream>
#include <string_view>

#include "cmd/common.h"

namespace {

constexpr const char* kUsage = R"(membrane - identity-based network policy: evaluate, compile, check

Usage: membrane COMMAND [OPTIONS] PATH...

Commands:
  show PATH...           load manifests and print the cluster: namespaces, workloads, pods,
                         identities with their labels, policies and their rules
  connectivity PATH...   every allowed connection between workloads and external ranges
                         (-o txt|json|dot|csv|md; --services: Services as destinations)
  explain PATH... --from SRC --to DST [--port N] [--protocol P]
                         the verdict of one flow, egress and ingress side, with the rules;
                         DST svc:NS/NAME or a Service's address: per backend after DNAT
  policy PATH... [--pod NS/NAME]
                         the compiled policy map state of each endpoint
  check CASE_DIR...      run connectivity cases (../shared/corpus/FORMAT.md); every cell must match
  verify PATH... --invariants FILE [--check-compiled] [--junit OUT.xml]
                         prove invariants with Z3 for every pod that could exist; each
                         failure prints a witness flow and the deciding rules
  diff OLD NEW           connections a policy change adds, removes or changes (np-guard text)
  lint PATH...           shadowed, redundant and never-matching rules, empty selectors,
                         equivalent policies
  sim SCENARIO... [--backend model|bpf|netns|ns3] [--mode overlay|native]
                         replay scenarios (docs/scenarios.md): observed truth table beside
                         the expected one and the model's; fails on a mismatch, a
                         disagreement with the model, a violated invariant, traffic not
                         as expected or (ns3) a performance property not met; --cleanup
                         removes dead runs
  status [--socket PATH] the node agent's status (membrane-agent, docs/agent.md)
  endpoint list|get ID [--socket PATH]
                         the node agent's endpoints
  apply -f FILE|DIR      validate, then write the objects into etcd in one transaction
                         (kubectl apply; docs/kvstore.md)
  delete -f FILE|DIR     delete the objects the files name from etcd, all or none
  get KIND [NAME] [-n NS|-A] [-o yaml|json]
                         objects stored in etcd with their resourceVersion
  observe [--server ADDR]... [FILTERS] [--last N|-f] [-o compact|dict|table|json|jsonpb]
                         flows of the node agents (Hubble's Observer API, hubble observe's
                         flags; docs/observe.md)

Common options:
  --cluster-name NAME    cluster name (default "default")
  --cluster-id N         cluster id 0-255 (default 0)
  -o, --output FORMAT    output format of the command
  -h, --help             help of a command

Exit codes:
  0  success (check: every cell matches)
  1  a check failed (a cell mismatched; sim: also a disagreement with the model, a
     violated invariant, traffic not as expected)
  2  unusable input or wrong usage (errors name file:line:column, object and field)
  3  the solver answered unknown (verify)
  5  the store (etcd) is unreachable or failed (apply, delete, get; 1 there: a
     conflict on resourceVersion or an object not found)
  6  observe: no node could be read (1: some node did not answer)
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace membrane::cmd;
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitBadInput;
  }
  std::string_view c = argv[1];
  if (c == "-h" || c == "--help" || c == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  if (c == "--version") {
    std::cout << "membrane 0.1.0\n";
    return kExitOk;
  }
  if (c == "show") return cmdShow(argc - 1, argv + 1);
  if (c == "check") return cmdCheck(argc - 1, argv + 1);
  if (c == "connectivity") return cmdConnectivity(argc - 1, argv + 1);
  if (c == "explain") return cmdExplain(argc - 1, argv + 1);
  if (c == "policy") return cmdPolicy(argc - 1, argv + 1);
  if (c == "verify") return cmdVerify(argc - 1, argv + 1);
  if (c == "diff") return cmdDiff(argc - 1, argv + 1);
  if (c == "lint") return cmdLint(argc - 1, argv + 1);
  if (c == "sim") return cmdSim(argc - 1, argv + 1);
  if (c == "status") return cmdStatus(argc - 1, argv + 1);
  if (c == "endpoint") return cmdEndpoint(argc - 1, argv + 1);
  if (c == "apply") return cmdApply(argc - 1, argv + 1);
  if (c == "delete") return cmdDelete(argc - 1, argv + 1);
  if (c == "get") return cmdGet(argc - 1, argv + 1);
  if (c == "observe") return cmdObserve(argc - 1, argv + 1);
  std::cerr << "membrane: unknown command \"" << c << "\"\n\n" << kUsage;
  return kExitBadInput;
}
