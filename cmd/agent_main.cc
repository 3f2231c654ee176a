// SPDX-License-Identifier: Apache-2.0
// membrane-agent: the node daemon (docs/agent.md). One process per node; owns the node's
// datapath, endpoints and state directory; serves the API on a unix socket.
#include <bpf/libbpf.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include "agent/agent.h"
#include "agent/api.h"
#include "agent/flows.h"
#include "agent/l7_tail.h"
#include "agent/metrics.h"
#include "agent/observer_server.h"
#include "agent/proxy_supervisor.h"
#include "agent/store_source.h"
#include "agent/watch.h"
#include "dataplane/proxy_writer.h"
#include "model/policy.h"
#include "proxy/redirect.h"
#include "proxy/rules_build.h"

namespace {

using namespace membrane;
using namespace membrane::agent;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;  // could not start (datapath, socket, state dir) / uninstall failed
constexpr int kExitBadInput = 2;  // invalid configuration or usage; nothing was touched

void usage(std::ostream& out) {
  out << "membrane-agent - the membrane node daemon\n\n"
         "Usage: membrane-agent [--config FILE] [FLAGS]\n"
         "       membrane-agent --uninstall [--config FILE] [FLAGS]\n\n"
         "Settings (YAML key in the --config file / flag; flags win over the file):\n";
  for (const auto& f : configFlags()) {
    std::string left = std::string("  ") + f.flag + " (" + f.yaml + ")";
    left.resize(std::max<size_t>(left.size() + 1, 38), ' ');
    out << left << f.help << "\n";
  }
  out << "  (the kvstore.* keys form a `kvstore:` section of the file; kvstore.endpoints may\n"
         "   be a YAML list; the section is used with desiredState etcd only)\n";
  out << "  nodes (YAML only)                   other nodes: [{name, ip, podCIDR}], besides\n"
         "                                      the Node objects of the manifests\n\n"
         "Other options:\n"
         "  --config FILE                       YAML configuration file\n"
         "  --uninstall                         remove everything the agent created (veths,\n"
         "                                      VXLAN device, routes, pins, state, sockets)\n"
         "  -h, --help                          this help\n\n"
         "SIGTERM/SIGINT stop the agent and leave the datapath running; the next start\n"
         "re-adopts it (docs/agent.md).\n\n"
         "Exit codes:\n"
         "  0  stopped by SIGTERM/SIGINT, or --uninstall done\n"
         "  1  could not start (datapath, state directory, socket) or uninstall failed\n"
         "  2  invalid configuration or usage (file:line:column, setting, what was expected);\n"
         "     nothing was touched\n";
}

std::string stamp() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char b[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(b, sizeof(b), "%H:%M:%S", &tm);
  return b;
}

void log(const std::string& line) { std::cerr << stamp() << " membrane-agent: " << line << "\n"; }

// libbpf's messages, without the kernel's complaint about an existing clsact qdisc: the
// agent creates the hook with "create or keep" semantics and re-adopts on every start.
int libbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  std::vsnprintf(line, sizeof(line), fmt, args);
  if (std::strstr(line, "Exclusivity flag on") != nullptr) return 0;
  return std::fputs(line, stderr);
}

struct Cli {
  std::string config_file;
  ConfigFlags flags;
  bool uninstall = false;
  bool help = false;
};

bool parseCli(int argc, char** argv, Cli& cli) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      cli.help = true;
    } else if (a == "--uninstall") {
      cli.uninstall = true;
    } else if (a.rfind("--", 0) == 0) {
      std::string value;
      if (auto eq = a.find('='); eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        std::cerr << "membrane-agent: " << a << ": expected a value\n";
        return false;
      }
      if (a == "--config") {
        cli.config_file = value;
      } else {
        cli.flags[a] = value;
      }
    } else {
      std::cerr << "membrane-agent: unexpected argument \"" << a << "\"\n";
      return false;
    }
  }
  return true;
}

// Reconciles until stopped: on a change of the desired state (the watched directory, or the
// store's mirrors), after an error with exponential backoff (100 ms .. 10 s), every second
// while the store has work to retry (publishing, reconnecting), and every 30 s. With the
// store it also runs the identity GC when due (store_gc: ms until the next pass), which
// needs no reconcile. `tick` (may be empty) runs at least every kTickMs: the L7 proxy's
// supervision.
constexpr int kTickMs = 200;

template <typename Waiter>
void runLoop(Agent& agent, Waiter& watcher, const std::atomic<bool>& stop,
             const std::function<bool()>& store_pending, const std::function<int()>& store_gc,
             const std::function<void()>& tick) {
  using namespace std::chrono;
  int backoff_ms = 0;
  auto last = steady_clock::now();
  while (!stop) {
    const bool retry = store_pending && store_pending();
    const int gc_ms = store_gc ? store_gc() : 30000;
    int wait_ms = backoff_ms > 0 ? backoff_ms : std::min(retry ? 1000 : 30000, gc_ms);
    if (tick) wait_ms = std::min(wait_ms, kTickMs);
    const bool changed = watcher.wait(wait_ms);
    if (stop) break;
    if (tick) tick();
    const bool due = steady_clock::now() - last >= seconds(30);
    if (!changed && backoff_ms == 0 && !due && !retry) continue;
    last = steady_clock::now();
    const bool first = !agent.ready();
    auto s = first ? agent.start() : agent.reconcile(changed || backoff_ms > 0 || retry);
    if (s) {
      if (changed || backoff_ms > 0 || first) log("reconciled");
      backoff_ms = 0;
    } else {
      backoff_ms = std::min(backoff_ms == 0 ? 100 : backoff_ms * 2, 10000);
      log("reconcile failed (retry in " + std::to_string(backoff_ms) +
          " ms): " + s.error().message());
    }
  }
}

// The desired-state source's trigger: the directory watcher, or the store's mirrors.
struct Source {
  std::optional<DirWatcher> dir;
  Trigger trigger;
  std::unique_ptr<ClusterStore> store;
  bool wait(int ms) { return dir ? dir->wait(ms) : trigger.wait(ms); }
  void wake() { dir ? dir->wake() : trigger.wake(); }
};

bool openSource(const AgentConfig& config, Agent& agent, Source& src) {
  if (config.source == DesiredSource::Directory) {
    auto w = DirWatcher::open(config.manifests);
    if (!w) {
      log("cannot watch: " + w.error().message());
      return false;
    }
    src.dir.emplace(std::move(*w));
    return true;
  }
  auto store = ClusterStore::open(config, [&src] { src.trigger.wake(); });
  if (!store) {
    log("cannot use the store: " + store.error().message);
    return false;
  }
  src.store = std::move(*store);
  agent.attachStore(src.store.get());
  return true;
}

// The L7 proxy when configured (docs/l7.md): supervised child, rules in the state directory,
// TPROXY plumbing installed by the proxy itself once it listens.
std::unique_ptr<ProxySupervisor> startL7Proxy(const AgentConfig& config) {
  if (config.l7_proxy_binary.empty()) return nullptr;
  ProxySupervisorConfig pc{.binary = config.l7_proxy_binary,
                           .state_dir = config.state_dir + "/proxy",
                           .port = model::kDefaultProxyPort,
                           .extra_args = {"--install-redirect", "--upstream-original-source"}};
  std::error_code ec;
  std::filesystem::create_directories(pc.state_dir, ec);
  auto sup = std::make_unique<ProxySupervisor>(pc);
  std::string err;
  // No rules until the first reconcile: the proxy denies everything meanwhile.
  if (!sup->writeRules(R"({"version": 1, "ipcache": [], "entries": []})", &err)) {
    log("L7 proxy rules: " + err);
  }
  return sup;
}

int runAgent(const AgentConfig& config) {
  FlowRing flows(config.flow_ring_size);  // outlives the agent, whose hook writes to it
  FlowStats stats;
  std::unique_ptr<MetricsServer> metrics;  // set once the agent exists; the hook checks
  auto agent = Agent::open(config, std::make_unique<KernelNodeNet>());
  if (!agent) {
    log("cannot start: " + agent.error().message());
    return kExitFailed;
  }
  Source source;  // outlives the agent's use of its store (destroyed after the loop ends)
  if (!openSource(config, **agent, source)) return kExitFailed;
  Source* watcher = &source;
  auto api = ApiServer::start(**agent, config.socket);
  if (!api) {
    log("cannot serve: " + api.error().message());
    return kExitFailed;
  }
  // Flows: the reader thread, the Observer service, the metrics (docs/observe.md).
  auto reader = FlowReader::start((*agent)->datapath(), flows, &stats);
  if (!reader) {
    log("cannot read flow events: " + reader.error().message());
    return kExitFailed;
  }
  auto observer = ObserverServer::start(flows, {.socket = observerSocketPath(config),
                                                .listen = config.observer_listen,
                                                .node_name = config.node_name});
  if (!observer) {
    log("cannot serve the Observer: " + observer.error().message());
    return kExitFailed;
  }
  auto m = MetricsServer::start(config.metrics_listen, **agent, stats);
  if (!m) {
    log("cannot serve metrics: " + m.error().message());
    return kExitFailed;
  }
  metrics = std::move(*m);  // no early return below: the shutdown path stops it first
  std::unique_ptr<ProxySupervisor> l7 = startL7Proxy(config);
  std::string l7_rules;  // the rules file as last written
  // The proxy's access log becomes L7 flows in the ring (docs/l7.md, docs/observe.md).
  std::unique_ptr<AccessLogTail> l7_flows =
      l7 ? AccessLogTail::start(l7->accessLogPath(), config.node_name, flows) : nullptr;
  (*agent)->onReconciled([&](const Agent::ReconcileOutcome& r) {
    if (r.model != nullptr) flows.publish(buildFlowContext(config, *r.model, *r.ids));
    if (metrics) metrics->reconciled(r);
    if (l7 && r.model != nullptr && r.model->engine) {
      const auto* ids = r.ids;
      std::string err;
      const std::string json = proxy::buildRulesJson(
          *r.model->engine, config.node_name,
          [ids](model::IdentityId id) { return ids != nullptr ? (*ids)(id) : id; });
      // Unchanged rules are not rewritten: the proxy re-reads the file on every change.
      if (json != l7_rules) {
        if (l7->writeRules(json, &err)) {
          l7_rules = json;
        } else {
          log("L7 proxy rules: " + err);
        }
      }
    }
  });
  std::atomic<bool> stop{false};
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
    stop = true;
    watcher->wake();
  });
  const auto t0 = std::chrono::steady_clock::now();
  if (auto s = (*agent)->start(); s) {
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    log("ready in " + std::to_string(static_cast<int>(ms)) + " ms: " +
        std::to_string((*agent)->endpoints().size()) + " endpoints, socket " + config.socket);
  } else {
    log("first reconcile failed, retrying: " + s.error().message());
    watcher->wake();
  }
  std::function<bool()> pending;
  std::function<int()> gc;
  if (source.store) {
    pending = [&] { return source.store->pending(); };
    gc = [&] { return source.store->collectGarbageIfDue(); };
  }
  std::function<void()> tick;
  if (l7) {
    // The proxy's port is LISTENING in membrane_proxy_ports exactly while it accepts: L7
    // flows are redirected then, and drop (PROXY_LOOKUP_FAILED) while it is down.
    tick = [&] {
      if (!l7->reconcile()) return;
      dataplane::ProxyPortWriter ports((*agent)->datapath().proxyPorts());
      if (auto r = ports.apply(proxyPortState(*l7)); !r) {
        log("L7 proxy port: " + r.error().message());
      } else {
        log(std::string("L7 proxy ") + (l7->listening() ? "listening" : "down") + " (pid " +
            std::to_string(l7->pid()) + ")");
      }
    };
    tick();
  }
  runLoop(**agent, *watcher, stop, pending, gc, tick);
  signals.join();
  (*agent)->onReconciled(nullptr);
  if (l7) {
    // Stopping the proxy: its port leaves the map first, so L7 flows fail closed at once.
    dataplane::ProxyPortWriter ports((*agent)->datapath().proxyPorts());
    if (auto r = ports.apply({}); !r) log("L7 proxy port: " + r.error().message());
    l7.reset();
  }
  l7_flows.reset();  // before the ring it appends to
  metrics.reset();   // its scrapes read the agent
  observer->reset();
  reader->reset();
  api->reset();
  (*agent)->attachStore(nullptr);
  log("stopped; the datapath keeps running");
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  // Signals are taken by one thread (sigwait); every thread started later inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  libbpf_set_print(libbpfPrint);
  Cli cli;
  if (!parseCli(argc, argv, cli)) {
    usage(std::cerr);
    return kExitBadInput;
  }
  if (cli.help) {
    usage(std::cout);
    return kExitOk;
  }
  model::Diagnostics diags;
  const AgentConfig config = loadConfig(cli.config_file, cli.flags, diags);
  if (!diags.ok()) {
    for (const auto& e : diags.errors()) std::cerr << e.str() << "\n";
    return kExitBadInput;
  }
  if (cli.uninstall) {
    proxy::uninstallRedirect();  // the L7 proxy's plumbing, if any (nothing: no error)
    KernelNodeNet net;
    if (auto s = Agent::uninstall(config, net); !s) {
      log("uninstall: " + s.error().message());
      return kExitFailed;
    }
    log("uninstalled");
    return kExitOk;
  }
  return runAgent(config);
}
