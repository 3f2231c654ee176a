// SPDX-License-Identifier: Apache-2.0
#include "sim/netns_backend.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <tuple>

#include "dataplane/ipcache_writer.h"
#include "dataplane/netns.h"
#include "sim/run_registry.h"

namespace membrane::sim {
namespace {

using dataplane::formatIpv4;
using dataplane::ipBatch;
using Clock = std::chrono::steady_clock;

constexpr const char* kVxlanMac = "02:00:00:00:fe:01";  // = simDatapathConfig().tunnel_mac

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

}  // namespace

NetnsBackend::NetnsBackend(const SimOptions& options) : options_(options), prefix_(runPrefix()) {}

NetnsBackend::~NetnsBackend() {
  servers_.reset();
  managers_.clear();
  overlay_attachments_.clear();
  nodes_.clear();
  for (auto it = all_ns_.rbegin(); it != all_ns_.rend(); ++it) deleteNamespace(*it);
}

void NetnsBackend::progress(const std::string& line) const {
  if (options_.progress) options_.progress("netns: " + line);
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

// The underlay bridge, the uplinks and peer links, addresses and on-link routes, vx0.
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
    if (step.routing == Routing::Overlay && dev == "uplink") {
      l.push_back(std::string("link add vx0 address ") + kVxlanMac +
                  " type vxlan external dstport 4789");
      l.push_back("link set vx0 up");
    }
    if (auto s = ipBatch(ns, l); !s) return s.error().message();
  }
  return std::nullopt;
}

// One agent (datapath) per node, the overlay program on its VXLAN device, the managers.
std::optional<std::string> NetnsBackend::startAgents(const StepState& step) {
  const Topology& topo = *step.topology;
  for (const auto& n : topo.nodes) {
    const std::string& ns = node_ns_[n.name];
    int vx = 0;
    if (step.routing == Routing::Overlay) {
      auto s = dataplane::runInNetns(ns, [&] { vx = static_cast<int>(if_nametoindex("vx0")); });
      if (!s || vx == 0) return "node " + n.name + ": no vx0";
    }
    SimNode& sn = nodes_[n.name];
    sn.name = n.name;
    auto a = dataplane::NodeAgent::create(simDatapathConfig(static_cast<uint32_t>(vx)));
    if (!a) return "node " + n.name + ": " + a.error().message();
    sn.agent = std::move(*a);
    auto ev = dataplane::EventReader::create(sn.agent->datapath().eventsFd());
    if (!ev) return "node " + n.name + ": " + ev.error().message();
    sn.events = std::move(*ev);
    if (vx != 0) {
      dataplane::Status st;
      auto s = dataplane::runInNetns(ns, [&] {
        auto att = sn.agent->datapath().attachOverlay(vx);
        if (!att) {
          st = att.error();
          return;
        }
        overlay_attachments_.push_back(std::move(*att));
      });
      if (!s) return s.error().message();
      if (!st) return "node " + n.name + ": " + st.error().message();
    }
    managers_[n.name] = std::make_unique<dataplane::EndpointManager>(ns, &sn.agent->datapath());
  }
  return std::nullopt;
}

std::optional<std::string> NetnsBackend::setUp(const StepState& step) {
  if (geteuid() != 0) return "needs root (network namespaces, BPF)";
  const auto t0 = Clock::now();
  const Topology& topo = *step.topology;
  if (auto e = createNamespaces(topo)) return e;
  if (auto e = wireUnderlay(step)) return e;
  if (auto e = startAgents(step)) return e;
  auto servers = Servers::create();
  if (!servers) return servers.error().message();
  servers_ = std::move(*servers);
  char line[160];
  std::snprintf(line, sizeof(line), "%zu nodes, %zu external peers, underlay up in %.0f ms (%s)",
                topo.nodes.size(), topo.external_peers.size(), msSince(t0),
                std::string(routingName(step.routing)).c_str());
  progress(line);
  notes_.push_back(line);
  return std::nullopt;
}

std::optional<std::string> NetnsBackend::syncPods(const StepState& step) {
  const auto t0 = Clock::now();
  const model::Cluster& cluster = *step.cluster;
  std::map<std::string, std::pair<std::string, uint32_t>> want;  // pod -> (node, ip)
  for (const auto& p : cluster.pods) {
    if (!p.ip) continue;
    want[p.ref()] = {step.topology->pod_node.at(p.ref()), *p.ip};
  }
  size_t removed = 0;
  for (auto it = pod_ns_.begin(); it != pod_ns_.end();) {
    auto w = want.find(it->first);
    if (w != want.end() && w->second == std::make_pair(pod_on_[it->first], pod_ip_[it->first])) {
      ++it;
      continue;
    }
    if (auto s = managers_[pod_on_[it->first]]->remove(it->first); !s) return s.error().message();
    dropNamespace(it->second);
    pod_on_.erase(it->first);
    pod_ip_.erase(it->first);
    it = pod_ns_.erase(it);
    ++removed;
  }
  std::map<std::string, std::vector<dataplane::PodNet>> add;  // node -> pods
  std::vector<std::string> adds;
  for (const auto& [ref, where] : want) {
    if (pod_ns_.count(ref)) continue;
    const std::string ns = newNamespace("p" + std::to_string(++next_pod_));
    pod_ns_[ref] = ns;
    pod_on_[ref] = where.first;
    pod_ip_[ref] = where.second;
    add[where.first].push_back({.name = ref, .netns = ns, .ip = where.second});
    adds.push_back("netns add " + ns);
  }
  if (auto s = ipBatch("", adds); !s) return s.error().message();
  size_t added = 0;
  for (auto& [node, pods] : add) {
    for (const auto& p : pods) {
      if (auto s = sysctls(p.netns, kNoIpv6); !s) return s.error().message();
    }
    if (auto s = managers_[node]->add(pods); !s) return "node " + node + ": " + s.error().message();
    added += pods.size();
  }
  char line[160];
  std::snprintf(line, sizeof(line), "step %zu: %zu pods added, %zu removed in %.0f ms", step.index,
                added, removed, msSince(t0));
  progress(line);
  notes_.push_back(line);
  return std::nullopt;
}

std::optional<std::string> NetnsBackend::syncRoutes(const StepState& step) {
  const Topology& topo = *step.topology;
  // Destinations behind each node: its pod CIDR, else its pods one by one.
  std::map<std::string, std::vector<std::string>> behind;
  for (const auto& n : topo.nodes) {
    if (n.pod_cidr) behind[n.name].push_back(n.pod_cidr->str());
  }
  for (const auto& [ref, node] : pod_on_) {
    const TopologyNode* n = topo.node(node);
    if (n && !n->pod_cidr) behind[node].push_back(formatIpv4(pod_ip_[ref]) + "/32");
  }
  auto routesVia = [&](const std::string& self_node, const std::string& dev) {
    std::vector<std::string> l;
    for (const auto& n : topo.nodes) {
      if (n.name == self_node) continue;
      for (const auto& dst : behind[n.name]) {
        l.push_back("route replace " + dst + " via " + formatIpv4(n.ip) + " dev " + dev +
                    " onlink");
      }
    }
    return l;
  };
  for (const auto& n : topo.nodes) {
    if (auto s = ipBatch(node_ns_[n.name], routesVia(n.name, "uplink")); !s) {
      return s.error().message();
    }
  }
  for (const auto& [name, ns] : peer_ns_) {
    if (auto s = ipBatch(ns, routesVia("", "eth0")); !s) return s.error().message();
  }
  return std::nullopt;
}

std::optional<std::string> NetnsBackend::apply(const StepState& step) {
  if (!up_) {
    if (auto e = setUp(step)) return e;
    up_ = true;
  }
  if (auto e = syncPods(step)) return e;
  if (auto e = syncRoutes(step)) return e;
  const auto t0 = Clock::now();
  auto states = desiredStates(step, identities_);
  for (auto& [name, state] : states) {
    managers_[name]->decorate(state);
    auto r = nodes_[name].agent->reconcile(state);
    if (!r) return "node " + name + ": " + r.error().message();
    notes_.push_back("step " + std::to_string(step.index) + " " + name + ": " + r->str());
  }
  char line[96];
  std::snprintf(line, sizeof(line), "step %zu: maps reconciled in %.1f ms", step.index,
                msSince(t0));
  progress(line);
  return std::nullopt;
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

void NetnsBackend::probe(const StepState& step, std::vector<SimCell>& cells) {
  const auto t0 = Clock::now();
  std::vector<ProbeJob> jobs(cells.size());
  for (size_t i = 0; i < cells.size(); ++i) {
    SimCell& c = cells[i];
    ProbeJob& j = jobs[i];
    j.src_netns = netnsOf(step, c.from);
    j.dst_netns = netnsOf(step, c.to);
    j.dst_ip = c.dst.ip;
    j.src_ip = c.src.ip;
    j.protocol = c.protocol;
    j.port = c.port;
    if (j.src_netns.empty() || j.dst_netns.empty()) continue;
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
  // Events of every node, gathered while the probes run: a policy drop of a probe's first
  // packet decides it at once instead of at the deadline.
  std::vector<std::pair<std::string, dataplane::FlowEvent>> events;
  std::set<std::tuple<uint32_t, uint32_t, uint8_t, uint16_t, uint16_t>> policy_drops;
  ProbeHooks hooks{
      .refresh =
          [&] {
            for (auto& [name, n] : nodes_) {
              for (const auto& ev : drainEvents(n)) {
                events.push_back({name, ev});
                if (ev.drop_reason == MEMBRANE_DROP_POLICY ||
                    ev.drop_reason == MEMBRANE_DROP_POLICY_DENY ||
                    ev.drop_reason == MEMBRANE_DROP_PROXY_LOOKUP_FAILED) {
                  const bool icmp = ev.protocol == model::kProtoICMP;
                  policy_drops.insert({ntohl(ev.saddr), ntohl(ev.daddr), ev.protocol,
                                       ntohs(ev.sport), icmp ? uint16_t{0} : ntohs(ev.dport)});
                }
              }
            }
          },
      .dropped =
          [&](const ProbeJob& j) {
            if (j.sport == 0) return false;
            const bool icmp = j.protocol == model::kProtoICMP;
            return policy_drops.count(
                       {j.src_ip, j.dst_ip, j.protocol, j.sport, icmp ? uint16_t{0} : j.port}) != 0;
          }};
  runProbes(runnable, *servers_, options_.timeout_ms, &hooks);
  hooks.refresh();
  for (size_t k = 0; k < runnable.size(); ++k) jobs[index[k]] = runnable[k];
  for (size_t i = 0; i < cells.size(); ++i) {
    SimCell& c = cells[i];
    const ProbeJob& j = jobs[i];
    const uint32_t src = j.src_ip != 0 ? j.src_ip : c.src.ip;
    bool egress_drop = false, ingress_drop = false;
    for (const auto& [node, ev] : events) {
      const uint32_t s = ntohl(ev.saddr), d = ntohl(ev.daddr);
      if (ev.protocol != c.protocol) continue;
      const bool icmp = c.protocol == model::kProtoICMP;
      const bool fwd =
          s == src && d == c.dst.ip &&
          (icmp ? ntohs(ev.sport) == j.sport
                : ntohs(ev.dport) == c.port && (j.sport == 0 || ntohs(ev.sport) == j.sport));
      const bool rev =
          s == c.dst.ip && d == src &&
          (icmp ? ntohs(ev.sport) == j.sport || ntohs(ev.dport) == j.sport
                : ntohs(ev.sport) == c.port && (j.sport == 0 || ntohs(ev.dport) == j.sport));
      if (!fwd && !rev) continue;
      c.events.push_back(node + ": " + dataplane::formatFlowEvent(ev));
      if (fwd && ev.drop_reason != 0) {
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
  progress(line);
  notes_.push_back(line);
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

std::vector<std::pair<std::string, dataplane::FlowEvent>> NetnsBackend::drainNodeEvents() {
  std::vector<std::pair<std::string, dataplane::FlowEvent>> out;
  for (auto& [name, n] : nodes_) {
    for (const auto& ev : drainEvents(n)) out.push_back({name, ev});
  }
  return out;
}

std::unique_ptr<Backend> makeNetnsBackend(const SimOptions& options) {
  return std::make_unique<NetnsBackend>(options);
}

}  // namespace membrane::sim
