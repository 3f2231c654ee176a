// SPDX-License-Identifier: Apache-2.0
#include "sim/netns_backend.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "dataplane/agent_endpoints.h"
#include "dataplane/ipcache_writer.h"
#include "dataplane/netns.h"
#include "model/ip.h"
#include "sim/agent_manifests.h"
#include "sim/cni_runtime.h"
#include "sim/run_registry.h"

namespace membrane::sim {
namespace {

using dataplane::formatIpv4;
using dataplane::ipBatch;
using Clock = std::chrono::steady_clock;

// Agents start in parallel, each loads its BPF objects: generous, a busy CI machine is slow.
constexpr int kAgentStartMs = 60000;
constexpr int kAgentApplyMs = 60000;
constexpr int kStoreStartMs = 30000;

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Writes /proc/sys entries inside `netns`.
dataplane::Status sysctls(const std::string& netns,
                          const std::vector<std::pair<std::string, std::string>>& kv) {
  bool ok = true;
  std::string failed;
  auto s = dataplane::runInNetns(netns, [&] {
    for (const auto& [k, v] : kv) {
      std::ofstream f("/proc/sys/" + k);
      f << v;
      f.flush();
      if (!f) {
        ok = false;
        failed = k;
      }
    }
  });
  if (!s) return s;
  if (!ok) return dataplane::Error{.code = EIO, .context = "sysctl " + failed + " in " + netns};
  return {};
}

const std::vector<std::pair<std::string, std::string>> kNoIpv6 = {
    {"net/ipv6/conf/all/disable_ipv6", "1"}, {"net/ipv6/conf/default/disable_ipv6", "1"}};

// membrane-cni ADD for one pod, as a runtime calls it: CNI_ARGS name the Pod object and
// request the scenario's address. nullopt when the pod is up with that address.
std::optional<std::string> cniAdd(const model::Pod& pod, const std::string& netns,
                                  const std::string& container, AgentProcess& agent,
                                  const std::string& cni_bin) {
  if (auto s = sysctls(netns, kNoIpv6); !s) return s.error().message();
  const std::string ip = formatIpv4(*pod.ip);
  auto r = runCni(
      {.binary = cni_bin,
       .command = "ADD",
       .container_id = container,
       .netns = netns,
       .args = "K8S_POD_NAMESPACE=" + pod.namespace_ + ";K8S_POD_NAME=" + pod.name + ";IP=" + ip,
       .netconf = simNetconf(agent.socket()),
       .log = agent.dir() + "/cni.log"});
  if (!r) return r.error().message();
  std::string got;
  try {
    got = r->at("ips").at(0).at("address").get<std::string>();
  } catch (const nlohmann::json::exception&) {
    return "membrane-cni ADD result without ips[0].address: " + r->dump();
  }
  if (got != ip + "/32") return "membrane-cni ADD gave " + got + ", the scenario says " + ip;
  return std::nullopt;
}

}  // namespace

NetnsBackend::NetnsBackend(const SimOptions& options) : options_(options), prefix_(runPrefix()) {}

NetnsBackend::~NetnsBackend() {
  servers_.reset();
  // Each agent stops (SIGTERM), uninstalls its node's state and unmounts its bpffs; the
  // namespaces go afterwards.
  for (auto& [name, agent] : agents_) {
    if (auto s = agent->stop(); !s) progress("node " + name + ": " + s.error().message());
  }
  agents_.clear();
  // etcd after the agents (they talk to it until they stop); its directory goes with it.
  if (store_) {
    if (auto s = store_->stop(); !s) progress("etcd: " + s.error().message());
    store_.reset();
  }
  std::error_code ec;
  std::filesystem::remove(std::string(kRunDirRoot) + "/" + prefix_, ec);  // empty by now
  for (auto it = all_ns_.rbegin(); it != all_ns_.rend(); ++it) deleteNamespace(*it);
}

void NetnsBackend::progress(const std::string& line) const {
  if (options_.progress) options_.progress("netns: " + line);
}

void NetnsBackend::note(const std::string& line) {
  progress(line);
  notes_.push_back(line);
}

std::string NetnsBackend::newNamespace(const std::string& suffix) {
  const std::string name = prefix_ + suffix;
  registerNamespace(name);
  all_ns_.push_back(name);
  return name;
}

void NetnsBackend::dropNamespace(const std::string& name) {
  deleteNamespace(name);
  std::erase(all_ns_, name);
}

// Namespaces of the underlay, the nodes and the external peers, with their sysctls.
std::optional<std::string> NetnsBackend::createNamespaces(const Topology& topo) {
  underlay_ = newNamespace("u");
  for (size_t i = 0; i < topo.nodes.size(); ++i) {
    node_ns_[topo.nodes[i].name] = newNamespace("n" + std::to_string(i + 1));
  }
  size_t k = 0;
  for (const auto& [name, ip] : topo.external_peers) {
    peer_ns_[name] = newNamespace("x" + std::to_string(++k));
  }
  std::vector<std::string> adds;
  for (const auto& n : all_ns_) adds.push_back("netns add " + n);
  if (auto s = ipBatch("", adds); !s) return s.error().message();
  for (const auto& n : all_ns_) {
    if (auto s = sysctls(n, kNoIpv6); !s) return s.error().message();
  }
  for (const auto& [name, ns] : node_ns_) {
    auto kv = kNoIpv6;
    kv.push_back({"net/ipv4/ip_forward", "1"});
    kv.push_back({"net/ipv4/conf/all/rp_filter", "0"});
    kv.push_back({"net/ipv4/conf/default/rp_filter", "0"});
    if (auto s = sysctls(ns, kv); !s) return s.error().message();
  }
  return std::nullopt;
}

// The underlay bridge, the uplinks and peer links, addresses and on-link routes.
std::optional<std::string> NetnsBackend::wireUnderlay(const StepState& step) {
  const Topology& topo = *step.topology;
  // The underlay: one bridge, a veth to every node ("uplink") and peer ("eth0").
  std::vector<std::string> u = {"link set lo up", "link add br0 type bridge", "link set br0 up"};
  size_t port = 0;
  auto plug = [&](const std::string& ns, const std::string& inner) {
    const std::string outer = "u" + std::to_string(++port);
    u.push_back("link add " + outer + " type veth peer name " + inner + " netns " + ns);
    u.push_back("link set " + outer + " master br0");
    u.push_back("link set " + outer + " up");
  };
  for (const auto& [name, ns] : node_ns_) plug(ns, "uplink");
  for (const auto& [name, ns] : peer_ns_) plug(ns, "eth0");
  if (auto s = ipBatch(underlay_, u); !s) return s.error().message();
  // Underlay addresses (/32 each, on-link routes between all members).
  std::vector<std::pair<std::string, uint32_t>> members;  // (netns, address)
  for (const auto& n : topo.nodes) members.push_back({node_ns_[n.name], n.ip});
  for (const auto& [name, ip] : topo.external_peers) members.push_back({peer_ns_[name], ip});
  for (const auto& [ns, ip] : members) {
    const std::string dev =
        peer_ns_.end() != std::find_if(peer_ns_.begin(), peer_ns_.end(),
                                       [&](const auto& p) { return p.second == ns; })
            ? "eth0"
            : "uplink";
    std::vector<std::string> l = {"link set lo up", "addr add " + formatIpv4(ip) + "/32 dev " + dev,
                                  "link set " + dev + " up"};
    for (const auto& [other_ns, other] : members) {
      if (other_ns != ns) l.push_back("route replace " + formatIpv4(other) + "/32 dev " + dev);
    }
    if (auto s = ipBatch(ns, l); !s) return s.error().message();
  }
  return std::nullopt;
}

// A pod CIDR for a node the scenario gives none (its pods keep the scenario's addresses,
// requested by the runtime): a /24 of 100.127.0.0/16 holding none of the run's addresses.
std::string placeholderCidr(size_t index, const model::Cluster& cluster, const Topology& topo) {
  std::set<uint32_t> used;
  for (const auto& p : cluster.pods) {
    if (p.ip) used.insert(*p.ip >> 8);
  }
  for (const auto& [name, ip] : topo.external_peers) used.insert(ip >> 8);
  for (const auto& n : topo.nodes) used.insert(n.ip >> 8);
  uint32_t net = (100u << 24) | (127u << 16) | (static_cast<uint32_t>(index % 250) << 8);
  while (used.count(net >> 8)) net += 1u << 8;
  return formatIpv4(net) + "/24";
}

// etcd's address on the underlay bridge: the first of 100.126.0.1, .2, ... that is no
// address of the run and in no node's pod CIDR (placeholder pod CIDRs are in 100.127/16).
uint32_t storeAddress(const model::Cluster& cluster, const Topology& topo) {
  std::set<uint32_t> used;
  for (const auto& p : cluster.pods) {
    if (p.ip) used.insert(*p.ip);
  }
  for (const auto& [name, ip] : topo.external_peers) used.insert(ip);
  for (const auto& n : topo.nodes) used.insert(n.ip);
  uint32_t ip = (100u << 24) | (126u << 16) | 1u;
  auto taken = [&](uint32_t a) {
    if (used.count(a)) return true;
    for (const auto& n : topo.nodes) {
      if (n.pod_cidr && n.pod_cidr->contains(a)) return true;
    }
    return false;
  };
  while (taken(ip)) ++ip;
  return ip;
}

// The run's etcd on the underlay bridge (its own address, on-link routes to and from the
// nodes), answering before the agents start.
std::optional<std::string> NetnsBackend::startStore(const StepState& step) {
  auto etcd = findEtcdBinary();
  if (!etcd) return etcd.error().message();
  auto cli = findProductBinary("membrane", options_.membrane_bin, "MEMBRANE_BIN");
  if (!cli) return cli.error().message();
  const Topology& topo = *step.topology;
  const uint32_t ip = storeAddress(*step.cluster, topo);
  std::vector<std::string> u = {"addr add " + formatIpv4(ip) + "/32 dev br0"};
  for (const auto& n : topo.nodes) u.push_back("route replace " + formatIpv4(n.ip) + "/32 dev br0");
  if (auto s = ipBatch(underlay_, u); !s) return s.error().message();
  for (const auto& [name, ns] : node_ns_) {
    if (auto s = ipBatch(ns, {"route replace " + formatIpv4(ip) + "/32 dev uplink"}); !s) {
      return s.error().message();
    }
  }
  const auto t0 = Clock::now();
  auto store = ClusterStore::start({.etcd_binary = *etcd,
                                    .membrane_binary = *cli,
                                    .netns = underlay_,
                                    .dir = std::string(kRunDirRoot) + "/" + prefix_ + "/etcd",
                                    .ip = ip,
                                    .cluster_name = step.scenario->cluster.name,
                                    .cluster_id = step.scenario->cluster.id},
                                   kStoreStartMs);
  if (!store) return "etcd: " + store.error().message();
  store_ = std::move(*store);
  char line[160];
  std::snprintf(line, sizeof(line), "etcd (PID %d) answering at %s in %.0f ms",
                static_cast<int>(store_->pid()), store_->endpoint().c_str(), msSince(t0));
  note(line);
  return std::nullopt;
}

// One membrane-agent process per node, started together (each waits for its health).
std::optional<std::string> NetnsBackend::startAgents(const StepState& step) {
  auto agent = findProductBinary("membrane-agent", options_.agent_bin, "MEMBRANE_AGENT_BIN");
  if (!agent) return agent.error().message();
  auto cni = findProductBinary("membrane-cni", options_.cni_bin, "MEMBRANE_CNI_BIN");
  if (!cni) return cni.error().message();
  agent_bin_ = *agent;
  cni_bin_ = *cni;
  const Topology& topo = *step.topology;
  std::vector<AgentSpec> specs;
  for (size_t i = 0; i < topo.nodes.size(); ++i) {
    const TopologyNode& n = topo.nodes[i];
    specs.push_back(
        {.binary = agent_bin_,
         .netns = node_ns_[n.name],
         .run_dir = "/run/membrane-sim/" + prefix_ + "/n" + std::to_string(i + 1),
         .node_name = n.name,
         .node_ip = n.ip,
         .pod_cidr = n.pod_cidr ? n.pod_cidr->str() : placeholderCidr(i + 1, *step.cluster, topo),
         .routing = step.routing == Routing::Overlay ? "overlay" : "native",
         .cluster_name = step.scenario->cluster.name,
         .cluster_id = step.scenario->cluster.id,
         .allow_outside_pod_cidr = true,
         .etcd_endpoint = store_ ? store_->endpoint() : ""});
  }
  std::vector<std::optional<dataplane::Result<std::unique_ptr<AgentProcess>>>> started(
      specs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < specs.size(); ++i) {
    threads.emplace_back([&, i] { started[i] = AgentProcess::start(specs[i], kAgentStartMs); });
  }
  for (auto& t : threads) t.join();
  std::optional<std::string> err;
  for (size_t i = 0; i < specs.size(); ++i) {
    auto& r = *started[i];
    if (!r) {
      if (!err) err = "node " + specs[i].node_name + ": " + r.error().message();
      continue;
    }
    agents_[specs[i].node_name] = std::move(*r);
  }
  return err;
}

std::optional<std::string> NetnsBackend::setUp(const StepState& step) {
  if (geteuid() != 0) return "needs root (network namespaces, BPF)";
  const auto t0 = Clock::now();
  const Topology& topo = *step.topology;
  if (auto e = createNamespaces(topo)) return e;
  if (auto e = wireUnderlay(step)) return e;
  if (options_.desired_state == SimOptions::DesiredState::Etcd) {
    if (auto e = startStore(step)) return e;
  }
  const auto t_agents = Clock::now();
  if (auto e = startAgents(step)) return e;
  char agents_line[96];
  std::snprintf(agents_line, sizeof(agents_line), "%zu membrane-agent processes healthy in %.0f ms",
                agents_.size(), msSince(t_agents));
  note(agents_line);
  for (auto& [name, agent] : agents_) {
    if (auto f = agent->flows(); !f) return "node " + name + ": " + f.error().message();
  }
  auto servers = Servers::create();
  if (!servers) return servers.error().message();
  servers_ = std::move(*servers);
  char line[160];
  std::snprintf(line, sizeof(line), "%zu nodes, %zu external peers, underlay up in %.0f ms (%s)",
                topo.nodes.size(), topo.external_peers.size(), msSince(t0),
                std::string(routingName(step.routing)).c_str());
  note(line);
  return std::nullopt;
}

// Pods of the run that the step no longer has, or has elsewhere: membrane-cni DEL, then
// their namespace goes.
std::optional<std::string> NetnsBackend::removePods(const StepState& step) {
  std::map<std::string, std::pair<std::string, uint32_t>> want;  // pod -> (node, ip)
  for (const auto& p : step.cluster->pods) {
    if (p.ip) want[p.ref()] = {step.topology->pod_node.at(p.ref()), *p.ip};
  }
  size_t removed = 0;
  for (auto it = pod_ns_.begin(); it != pod_ns_.end();) {
    const std::string ref = it->first;
    auto w = want.find(ref);
    if (w != want.end() && w->second == std::make_pair(pod_on_[ref], pod_ip_[ref])) {
      ++it;
      continue;
    }
    auto r = runCni({.binary = cni_bin_,
                     .command = "DEL",
                     .container_id = pod_container_[ref],
                     .netns = it->second,
                     .netconf = simNetconf(agents_.at(pod_on_[ref])->socket()),
                     .log = agents_.at(pod_on_[ref])->dir() + "/cni.log"});
    if (!r) return "pod " + ref + ": " + r.error().message();
    dropNamespace(it->second);
    pod_on_.erase(ref);
    pod_ip_.erase(ref);
    pod_container_.erase(ref);
    it = pod_ns_.erase(it);
    ++removed;
  }
  if (removed > 0)
    notes_.push_back("step " + std::to_string(step.index) + ": " + std::to_string(removed) +
                     " pods removed (membrane-cni DEL)");
  return std::nullopt;
}

// The step's cluster into every agent's watched directory; waits until each applied it.
std::optional<std::string> NetnsBackend::applyManifests(const StepState& step) {
  const auto t0 = Clock::now();
  model::Diagnostics diags;
  auto docs = caseDocs(step.scenario->c, step.index, diags);
  if (!docs) return "step " + std::to_string(step.index) + ": cannot read its manifests";
  const auto files = agentManifests(*docs, *step.cluster, *step.topology);
  if (store_) return storeManifests(step, files, t0);
  std::map<std::string, std::string> digests;
  for (auto& [name, agent] : agents_) {
    auto d = agent->writeManifests(files);
    if (!d) return "node " + name + ": " + d.error().message();
    digests[name] = *d;
  }
  for (auto& [name, agent] : agents_) {
    if (auto s = agent->waitApplied(digests[name], kAgentApplyMs); !s) {
      return "node " + name + ": " + s.error().message();
    }
  }
  char line[128];
  std::snprintf(line, sizeof(line), "step %zu: %zu agents applied the step's manifests in %.0f ms",
                step.index, agents_.size(), msSince(t0));
  note(line);
  return std::nullopt;
}

// The step's cluster into the run's etcd (membrane delete + apply); waits until every
// agent applied the revision apply printed.
std::optional<std::string> NetnsBackend::storeManifests(
    const StepState& step, const std::map<std::string, std::string>& files,
    std::chrono::steady_clock::time_point t0) {
  auto rev = store_->sync(files, step.index);
  if (!rev) return "step " + std::to_string(step.index) + ": " + rev.error().message();
  const double written = msSince(t0);
  for (auto& [name, agent] : agents_) {
    if (auto s = agent->waitRevision(*rev, kAgentApplyMs); !s) {
      return "node " + name + ": " + s.error().message();
    }
  }
  char line[192];
  // The same words as the directory source's line (bench/sim/scale.sh reads them).
  std::snprintf(line, sizeof(line),
                "step %zu: %zu agents applied the step's manifests in %.0f ms (etcd revision "
                "%lld; membrane apply/delete took %.0f ms)",
                step.index, agents_.size(), msSince(t0), static_cast<long long>(*rev), written);
  note(line);
  return std::nullopt;
}

// New pods: a namespace each, then membrane-cni ADD against their node's agent with the
// pod's name and the scenario's address; the address the plugin returns must be it.
std::optional<std::string> NetnsBackend::addPods(const StepState& step) {
  const auto t0 = Clock::now();
  struct NewPod {
    std::string ref, node, netns, container;
    const model::Pod* pod;
  };
  std::vector<NewPod> add;
  std::vector<std::string> adds;
  for (const auto& p : step.cluster->pods) {
    if (!p.ip || pod_ns_.count(p.ref())) continue;
    const std::string ns = newNamespace("p" + std::to_string(++next_pod_));
    add.push_back({.ref = p.ref(),
                   .node = step.topology->pod_node.at(p.ref()),
                   .netns = ns,
                   .container = ns,
                   .pod = &p});
    adds.push_back("netns add " + ns);
  }
  if (auto s = ipBatch("", adds); !s) return s.error().message();
  // One thread per node: a node's agent wires its pods one after the other anyway.
  std::map<std::string, std::vector<const NewPod*>> by_node;
  for (const auto& n : add) by_node[n.node].push_back(&n);
  std::map<std::string, std::string> errors;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (const auto& [node, pods] : by_node) {
    threads.emplace_back([&, node = node, pods = pods] {
      for (const NewPod* n : pods) {
        if (auto e = cniAdd(*n->pod, n->netns, n->container, *agents_.at(node), cni_bin_)) {
          std::lock_guard lock(mu);
          errors[node] = "pod " + n->ref + " on " + node + ": " + *e;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& n : add) {
    pod_ns_[n.ref] = n.netns;
    pod_on_[n.ref] = n.node;
    pod_ip_[n.ref] = *n.pod->ip;
    pod_container_[n.ref] = n.container;
  }
  if (!errors.empty()) return errors.begin()->second;
  char line[160];
  std::snprintf(line, sizeof(line), "step %zu: %zu pods added by membrane-cni ADD in %.0f ms",
                step.index, add.size(), msSince(t0));
  note(line);
  return std::nullopt;
}

// The external peers' routes to the pods: a node's pod CIDR, else its pods one by one, via
// the node (the nodes' own routes to each other's pods are their agents').
std::optional<std::string> NetnsBackend::syncRoutes(const StepState& step) {
  const Topology& topo = *step.topology;
  std::vector<std::string> l;
  for (const auto& n : topo.nodes) {
    if (n.pod_cidr) {
      l.push_back("route replace " + n.pod_cidr->str() + " via " + formatIpv4(n.ip) +
                  " dev eth0 onlink");
    }
  }
  for (const auto& [ref, node] : pod_on_) {
    const TopologyNode* n = topo.node(node);
    if (n && !n->pod_cidr) {
      l.push_back("route replace " + formatIpv4(pod_ip_[ref]) + "/32 via " + formatIpv4(n->ip) +
                  " dev eth0 onlink");
    }
  }
  for (const auto& [name, ns] : peer_ns_) {
    if (auto s = ipBatch(ns, l); !s) return s.error().message();
  }
  return std::nullopt;
}

std::optional<std::string> NetnsBackend::apply(const StepState& step) {
  if (!up_) {
    if (auto e = setUp(step)) return e;
    up_ = true;
  }
  if (auto e = removePods(step)) return e;
  if (auto e = applyManifests(step)) return e;
  if (auto e = addPods(step)) return e;
  return syncRoutes(step);
}

std::string NetnsBackend::netnsOf(const StepState& step, const std::string& name) const {
  if (auto it = pod_ns_.find(name); it != pod_ns_.end()) return it->second;
  if (auto it = step.topology->node_peers.find(name); it != step.topology->node_peers.end()) {
    return node_ns_.at(it->second);
  }
  if (auto it = peer_ns_.find(name); it != peer_ns_.end()) return it->second;
  // A peer given as a pod's address.
  if (auto it = step.scenario->c.peers.find(name); it != step.scenario->c.peers.end()) {
    if (auto ip = model::parseIpv4(it->second)) {
      if (auto pod = step.cluster->findPodByIp(*ip)) {
        auto p = pod_ns_.find(step.cluster->pods[*pod].ref());
        if (p != pod_ns_.end()) return p->second;
      }
    }
  }
  return "";
}

// A cell to a Service (its frontend address and port): the agents' datapath picks the backend,
// so every backend pod that serves the port gets a server on its target port. Returns the
// namespace of the first (it only matters for SCTP, which Services here do not carry).
std::string NetnsBackend::serviceBackends(const StepState& step, SimCell& c) {
  const auto slash = c.service.find('/');
  const model::Service* svc =
      step.cluster->findService(c.service.substr(0, slash), c.service.substr(slash + 1));
  if (svc == nullptr) return "";
  std::string first;
  for (size_t i = 0; i < svc->ports.size(); ++i) {
    if (svc->ports[i].port != c.port || svc->ports[i].protocol != c.protocol) continue;
    for (const model::ServiceBackend& b : svc->backend_endpoints) {
      const uint16_t port = svc->targetPort(b, i);
      if (port == 0 || !b.pod) continue;
      auto ns = pod_ns_.find(step.cluster->pods[*b.pod].ref());
      if (ns == pod_ns_.end()) continue;
      if (auto st = servers_->ensure(ns->second, c.protocol, port); !st) {
        c.note = st.error().message();
      }
      if (first.empty()) first = ns->second;
    }
  }
  return first;
}

void NetnsBackend::probe(const StepState& step, std::vector<SimCell>& cells) {
  const auto t0 = Clock::now();
  std::vector<ProbeJob> jobs(cells.size());
  for (size_t i = 0; i < cells.size(); ++i) {
    SimCell& c = cells[i];
    ProbeJob& j = jobs[i];
    j.src_netns = netnsOf(step, c.from);
    j.dst_netns = c.service.empty() ? netnsOf(step, c.to) : serviceBackends(step, c);
    j.dst_ip = c.dst.ip;
    j.src_ip = c.src.ip;
    j.protocol = c.protocol;
    j.port = c.port;
    if (j.src_netns.empty() || j.dst_netns.empty()) continue;
    if (!c.service.empty()) continue;  // the backends' servers are up (serviceBackends)
    if (auto s = servers_->ensure(j.dst_netns, c.protocol, c.port); !s) {
      c.note = s.error().message();
    }
  }
  for (size_t i = 0; i < cells.size(); ++i) {
    if (jobs[i].src_netns.empty() || jobs[i].dst_netns.empty()) {
      jobs[i].how =
          "no namespace plays " + (jobs[i].src_netns.empty() ? cells[i].from : cells[i].to);
      jobs[i].protocol = 0;
    }
  }
  std::vector<ProbeJob*> live;
  std::vector<ProbeJob> runnable;
  std::vector<size_t> index;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].protocol == 0) continue;
    runnable.push_back(jobs[i]);
    index.push_back(i);
  }
  // Flows of every node (its agent's Observer), gathered while the probes run: a policy drop
  // of a probe's first packet decides it at once instead of at the deadline. A flow does
  // not carry an ICMP echo's identifier: ICMP probes are told apart by their addresses
  // (a step probes each pair once per table).
  std::vector<std::pair<std::string, AgentFlow>> events;
  std::set<std::tuple<uint32_t, uint32_t, uint8_t, uint16_t, uint16_t>> policy_drops;
  // Probes to a Service: the datapath's events name the backend the frontend was DNATed to,
  // so they are matched by source address and port alone.
  std::set<uint32_t> vips;
  for (const auto& c : cells) {
    if (!c.service.empty()) vips.insert(c.dst.ip);
  }
  std::set<std::tuple<uint32_t, uint8_t, uint16_t>> policy_drops_by_source;
  ProbeHooks hooks{
      .refresh =
          [&] {
            for (auto& [name, f] : drainFlows()) {
              const dataplane::FlowEvent& ev = f.ev;
              if (ev.verdict == MEMBRANE_VERDICT_DROPPED &&
                  (ev.drop_reason == MEMBRANE_DROP_POLICY ||
                   ev.drop_reason == MEMBRANE_DROP_POLICY_DENY ||
                   ev.drop_reason == MEMBRANE_DROP_PROXY_LOOKUP_FAILED)) {
                const bool icmp = ev.protocol == model::kProtoICMP;
                policy_drops.insert({ntohl(ev.saddr), ntohl(ev.daddr), ev.protocol,
                                     icmp ? uint16_t{0} : ntohs(ev.sport),
                                     icmp ? uint16_t{0} : ntohs(ev.dport)});
                if (!icmp) {
                  policy_drops_by_source.insert({ntohl(ev.saddr), ev.protocol, ntohs(ev.sport)});
                }
              }
              events.push_back({name, std::move(f)});
            }
          },
      .dropped =
          [&](const ProbeJob& j) {
            if (j.sport == 0) return false;
            if (vips.count(j.dst_ip)) {
              return policy_drops_by_source.count({j.src_ip, j.protocol, j.sport}) != 0;
            }
            const bool icmp = j.protocol == model::kProtoICMP;
            return policy_drops.count({j.src_ip, j.dst_ip, j.protocol, icmp ? uint16_t{0} : j.sport,
                                       icmp ? uint16_t{0} : j.port}) != 0;
          }};
  runProbes(runnable, *servers_, options_.timeout_ms, &hooks);
  hooks.refresh();
  for (size_t k = 0; k < runnable.size(); ++k) jobs[index[k]] = runnable[k];
  for (size_t i = 0; i < cells.size(); ++i) {
    SimCell& c = cells[i];
    const ProbeJob& j = jobs[i];
    const uint32_t src = j.src_ip != 0 ? j.src_ip : c.src.ip;
    bool egress_drop = false, ingress_drop = false;
    for (const auto& [node, f] : events) {
      const dataplane::FlowEvent& ev = f.ev;
      const uint32_t s = ntohl(ev.saddr), d = ntohl(ev.daddr);
      if (ev.protocol != c.protocol) continue;
      const bool icmp = c.protocol == model::kProtoICMP;
      bool fwd =
          s == src && d == c.dst.ip &&
          (icmp || (ntohs(ev.dport) == c.port && (j.sport == 0 || ntohs(ev.sport) == j.sport)));
      bool rev =
          s == c.dst.ip && d == src &&
          (icmp || (ntohs(ev.sport) == c.port && (j.sport == 0 || ntohs(ev.dport) == j.sport)));
      if (!c.service.empty() && j.sport != 0) {  // the backend's address and port after DNAT
        fwd = s == src && ntohs(ev.sport) == j.sport;
        rev = d == src && ntohs(ev.dport) == j.sport;
      }
      if (!fwd && !rev) continue;
      c.events.push_back(node + ": " + formatAgentFlow(f));
      if (fwd && ev.verdict == MEMBRANE_VERDICT_DROPPED) {
        (ev.direction == MEMBRANE_DIR_EGRESS ? egress_drop : ingress_drop) = true;
      }
    }
    if (j.delivered) {
      c.observed = Cell::Allowed;
    } else if (egress_drop) {
      c.observed = Cell::Egress;
    } else if (ingress_drop) {
      c.observed = Cell::Ingress;
    } else {
      c.observed = Cell::Blocked;
    }
    if (c.note.empty()) c.note = j.how;
  }
  char line[128];
  std::snprintf(line, sizeof(line), "step %zu: %zu probes in %.0f ms (%.0f probes/s)", step.index,
                cells.size(), msSince(t0),
                cells.empty() ? 0.0 : 1000.0 * static_cast<double>(cells.size()) / msSince(t0));
  note(line);
  if (step.index + 1 == step.scenario->c.steps.size()) runTraffic(step);
}

// The scenario's traffic after the last step's probes: each flow sends `rate` new
// connections (TCP), datagrams with a reply (UDP), echo requests (ICMP) or INITs (SCTP)
// per second for `duration` seconds, one wave per second; the notes give sent/delivered
// beside the model's verdict.
void NetnsBackend::runTraffic(const StepState& step) {
  const auto& flows = step.scenario->traffic;
  if (flows.empty()) return;
  struct Flow {
    const TrafficFlow* spec;
    ProbeJob job;
    size_t sent = 0, delivered = 0;
    std::string verdict;
  };
  std::vector<Flow> run;
  for (const auto& f : flows) {
    std::string why;
    auto src = resolveCaseEndpoint(step.scenario->c, *step.cluster, f.from, &why);
    auto dst =
        src ? resolveCaseEndpoint(step.scenario->c, *step.cluster, f.to, &why) : std::nullopt;
    uint16_t port = 0;
    if (f.protocol != model::kProtoICMP) {
      try {
        port = static_cast<uint16_t>(std::stoi(f.port));
      } catch (const std::exception&) {
        why = "traffic port \"" + f.port + "\" is not a number";
        dst.reset();
      }
    }
    if (!src || !dst) {
      notes_.push_back("traffic " + f.from + " -> " + f.to + ": " + why);
      continue;
    }
    Flow fl{.spec = &f};
    fl.job = {.src_netns = netnsOf(step, f.from),
              .dst_netns = netnsOf(step, f.to),
              .dst_ip = dst->ip,
              .protocol = f.protocol,
              .port = port,
              .src_ip = src->ip};
    const model::Verdict v =
        step.engine->evaluate({.src = *src,
                               .dst = *dst,
                               .protocol = f.protocol,
                               .port = f.protocol == model::kProtoICMP ? uint16_t{8} : port});
    fl.verdict = v.allowed ? "allowed" : "denied";
    if (fl.job.src_netns.empty() || fl.job.dst_netns.empty()) continue;
    if (auto st = servers_->ensure(fl.job.dst_netns, f.protocol, port); !st) continue;
    run.push_back(fl);
  }
  uint32_t seconds = 0;
  for (const auto& f : run) seconds = std::max(seconds, f.spec->duration_s);
  progress("traffic: " + std::to_string(run.size()) + " flows for " + std::to_string(seconds) +
           " s");
  // TCP request-response items are also measured over one connection each (latency, loss),
  // beside the connection waves, for the report's flows (sim/netns_load.h).
  std::vector<RequestResponseLoad> measured;
  for (const auto& f : run) {
    if (f.spec->protocol != model::kProtoTCP || f.spec->kind != TrafficKind::RequestResponse) {
      continue;
    }
    measured.push_back({.index = static_cast<size_t>(f.spec - flows.data()),
                        .src_netns = f.job.src_netns,
                        .dst_ip = f.job.dst_ip,
                        .port = f.job.port,
                        .rate = f.spec->rate_pps,
                        .duration_s = f.spec->duration_s,
                        .size = f.spec->size,
                        .timeout_ms = options_.timeout_ms});
  }
  std::vector<std::string> why;
  std::thread rr([&] { stats_ = runRequestResponse(measured, why); });
  for (uint32_t sec = 0; sec < seconds; ++sec) {
    const auto t0 = Clock::now();
    std::vector<ProbeJob> wave;
    std::vector<size_t> owner;
    for (size_t i = 0; i < run.size(); ++i) {
      if (sec >= run[i].spec->duration_s) continue;
      for (uint32_t k = 0; k < run[i].spec->rate_pps; ++k) {
        wave.push_back(run[i].job);
        owner.push_back(i);
      }
    }
    runProbes(wave, *servers_, 900);
    for (size_t k = 0; k < wave.size(); ++k) {
      ++run[owner[k]].sent;
      run[owner[k]].delivered += wave[k].delivered ? 1 : 0;
    }
    const double left = 1000.0 - msSince(t0);
    if (left > 0) usleep(static_cast<useconds_t>(left * 1000));
  }
  rr.join();
  for (size_t i = 0; i < stats_.size(); ++i) {
    const TrafficFlow& f = flows[stats_[i].index];
    std::string line = "flow [" + std::to_string(stats_[i].index) + "] " + f.from + " -> " + f.to +
                       " measured over one connection: " + std::to_string(stats_[i].delivered) +
                       "/" + std::to_string(stats_[i].sent) + " requests answered";
    if (!why[i].empty()) line += " (" + why[i] + ")";
    if (f.response != f.size) {
      line += "; the echo server answers " + std::to_string(f.size) + " bytes, not `response` " +
              std::to_string(f.response);
    }
    notes_.push_back(line);
  }
  drainNodeEvents();
  for (const auto& f : run) {
    traffic_.push_back({.flow = f.spec, .sent = f.sent, .delivered = f.delivered});
    notes_.push_back("traffic " + f.spec->from + " -> " + f.spec->to + " " +
                     std::string(model::protocolName(f.spec->protocol)) + " " + f.spec->port +
                     ": " + std::to_string(f.delivered) + "/" + std::to_string(f.sent) +
                     " delivered in " + std::to_string(f.spec->duration_s) +
                     " s (model: " + f.verdict + ")");
  }
}

uint32_t NetnsBackend::addressOf(const StepState& step, const std::string& name) const {
  std::string why;
  auto e = resolveCaseEndpoint(step.scenario->c, *step.cluster, name, &why);
  return e ? e->ip : 0;
}

std::vector<std::pair<std::string, AgentFlow>> NetnsBackend::drainFlows() {
  std::vector<std::pair<std::string, AgentFlow>> out;
  for (auto& [name, agent] : agents_) {
    auto stream = agent->flows();
    if (!stream) {
      progress("node " + name + ": " + stream.error().message());
      continue;
    }
    for (auto& f : (*stream)->drain()) out.push_back({name, std::move(f)});
  }
  return out;
}

std::vector<std::pair<std::string, dataplane::FlowEvent>> NetnsBackend::drainNodeEvents() {
  std::vector<std::pair<std::string, dataplane::FlowEvent>> out;
  for (const auto& [name, f] : drainFlows()) out.push_back({name, f.ev});
  return out;
}

std::map<std::string, std::pair<pid_t, std::string>> NetnsBackend::agents() const {
  std::map<std::string, std::pair<pid_t, std::string>> out;
  for (const auto& [name, a] : agents_) out[name] = {a->pid(), a->socket()};
  return out;
}

std::unique_ptr<Backend> makeNetnsBackend(const SimOptions& options) {
  return std::make_unique<NetnsBackend>(options);
}

}  // namespace membrane::sim
