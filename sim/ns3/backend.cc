// SPDX-License-Identifier: Apache-2.0
// The ns3 backend: the scenario's nodes on an underlay simulated by ns-3 (sim/ns3/graph.h,
// network.h), every probe's request and reply through the node agents' BPF programs hop by
// hop (pod_path.h) in simulated time. Maps are filled by the node agent from
// Engine::compile() and the ipcache, as the bpf backend does; the difference is where the
// packets travel between the programs: over ns-3 links with bandwidth, delay and queues.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "sim/ns3/load.h"
#include "sim/ns3/pod_path.h"

namespace membrane::sim {
namespace {

using ns3sim::HopOutcome;
using ns3sim::PodEnd;

class Ns3Backend final : public Backend {
 public:
  explicit Ns3Backend(const SimOptions& o) : options_(o) {}
  ~Ns3Backend() override {
    path_.reset();
    net_.reset();  // Simulator::Destroy before the agents' maps go
  }
  std::string name() const override { return "ns3"; }

  std::optional<std::string> apply(const StepState& step) override {
    if (geteuid() != 0) return "needs root (BPF_PROG_TEST_RUN)";
    if (auto err = reconcile(step)) return err;
    if (!net_) {
      if (auto err = build(step)) return err;
    }
    if (step.index + 1 == step.scenario->c.steps.size()) {
      if (auto err = checkLoad(*step.scenario)) return err;
    }
    for (const auto& n : step.topology->nodes) {
      if (!graph_.index.count(n.name)) {
        return "node " + n.name + " appears after the first step; the underlay is built once";
      }
    }
    return std::nullopt;
  }

  void probe(const StepState& step, std::vector<SimCell>& cells) override {
    uint16_t sport = 20000;
    // After the last step the runner appends one probe per traffic item, in order: those
    // cells also give the load's endpoints.
    const auto& traffic = step.scenario->traffic;
    if (step.index + 1 == step.scenario->c.steps.size() && !traffic.empty() &&
        cells.size() >= traffic.size()) {
      runLoad(step,
              std::vector<SimCell>(cells.end() - static_cast<long>(traffic.size()), cells.end()));
    }
    for (auto& c : cells) {
      probeOne(step, c, sport++);
      for (auto& [name, n] : nodes_) {
        for (const auto& ev : drainEvents(n)) {
          c.events.push_back(name + ": " + dataplane::formatFlowEvent(ev));
        }
      }
    }
  }

  std::vector<FlowStats> flowStats() const override { return stats_; }
  bool judgesProperties() const override { return true; }

  std::vector<std::string> notes() const override {
    auto out = notes_;
    if (path_) {
      std::ostringstream o;
      o << "ns-3: " << path_->programRuns() << " program runs (" << path_->programNs()
        << " ns measured, charged as node processing delay"
        << (options_.bpf_cost_ns ? ", fixed charge " + std::to_string(*options_.bpf_cost_ns) + " ns"
                                 : std::string())
        << "), " << net_->datagramsSent() << " underlay datagrams, " << net_->queueDrops()
        << " queue drops";
      out.push_back(o.str());
      if (options_.verdict_cache != "off") {
        out.push_back("verdict cache (" + options_.verdict_cache +
                      "): " + std::to_string(path_->cacheHits()) +
                      " program runs of reply packets served from it" +
                      (options_.verdict_cache == "verify"
                           ? ", checked against the program: " +
                                 std::to_string(path_->cacheMismatches()) + " differed"
                           : std::string(" (no test-run)")));
      }
    }
    if (!rtts_.empty()) {
      auto r = rtts_;
      std::sort(r.begin(), r.end());
      out.push_back("probe round trips in simulated time: min " + std::to_string(r.front()) +
                    " ns, median " + std::to_string(r[r.size() / 2]) + " ns, max " +
                    std::to_string(r.back()) + " ns (" + std::to_string(r.size()) + " probes)");
    }
    out.push_back(
        "overlay hop: the source identity reaches the destination's to-container program in "
        "skb->mark, as membrane_from_overlay does after checking the VNI; peers that are not "
        "pods sit on the pod's node (no underlay hop)");
    return out;
  }

 private:
  std::optional<std::string> reconcile(const StepState& step) {
    for (auto& [name, state] : desiredStates(step, identities_)) {
      SimNode& n = nodes_[name];
      if (!n.agent) {
        n.name = name;
        // Overlay: a non-zero tunnel device makes from-container redirect into the tunnel.
        auto a = dataplane::NodeAgent::create(
            simDatapathConfig(step.routing == Routing::Overlay ? 1 : 0));
        if (!a) return "node " + name + ": " + a.error().message();
        n.agent = std::move(*a);
        auto ev = dataplane::EventReader::create(n.agent->datapath().eventsFd());
        if (!ev) return "node " + name + ": " + ev.error().message();
        n.events = std::move(*ev);
      }
      auto r = n.agent->reconcile(state);
      if (!r) return "node " + name + ": " + r.error().message();
      notes_.push_back("step " + std::to_string(step.index) + " " + name + ": " + r->str());
    }
    return std::nullopt;
  }

  std::optional<std::string> build(const StepState& step) {
    std::vector<std::string> names;
    for (const auto& n : step.topology->nodes) names.push_back(n.name);
    const UnderlaySpec spec = step.scenario->underlay.value_or(defaultUnderlay());
    std::string why;
    auto g = ns3sim::buildUnderlayGraph(spec, names, &why);
    if (!g) return why;
    graph_ = std::move(*g);
    overlay_ = step.routing == Routing::Overlay;
    net_ = ns3sim::Network::create(graph_, options_.seed);
    path_ = std::make_unique<ns3sim::PodPath>(
        nodes_, *net_, graph_, step.routing == Routing::Overlay, options_.bpf_cost_ns, cacheMode());
    notes_.push_back("underlay " + ns3sim::shapeName(spec.shape) + ": " +
                     std::to_string(graph_.hosts) + " nodes, " +
                     std::to_string(graph_.names.size() - graph_.hosts) + " switches, " +
                     std::to_string(graph_.edges.size()) + " links");
    return std::nullopt;
  }

  ns3sim::VerdictCache cacheMode() const {
    if (options_.verdict_cache == "on") return ns3sim::VerdictCache::On;
    if (options_.verdict_cache == "verify") return ns3sim::VerdictCache::Verify;
    return ns3sim::VerdictCache::Off;
  }

  // The largest payload one packet carries: the smallest MTU of the underlay less the
  // IPv4 and TCP headers (40) and, in overlay mode, VXLAN's 50 bytes.
  uint32_t mss() const {
    uint32_t mtu = 65535;
    for (const auto& e : graph_.edges) mtu = std::min(mtu, e.link.mtu);
    return mtu - 40 - (overlay_ ? 50 : 0);
  }

  std::optional<std::string> checkLoad(const Scenario& s) const {
    for (const auto& f : s.traffic) {
      if (f.kind == TrafficKind::Bulk) continue;
      const uint32_t biggest =
          std::max(f.size, f.kind == TrafficKind::RequestResponse ? f.response : 0);
      if (biggest > mss()) {
        return f.loc.str() + ": traffic: size " + std::to_string(biggest) +
               " exceeds one packet's payload on this underlay (" + std::to_string(mss()) +
               " bytes: the smallest MTU less headers" + (overlay_ ? " and VXLAN" : "") + ")";
      }
    }
    return std::nullopt;
  }

  // The traffic as load through the programs and the underlay (load.h); its conntrack
  // entries stay in the maps like any other connection's.
  void runLoad(const StepState& step, const std::vector<SimCell>& probes) {
    std::vector<ns3sim::LoadFlow> flows;
    for (size_t i = 0; i < probes.size(); ++i) {
      const SimCell& c = probes[i];
      flows.push_back({.index = i,
                       .spec = &step.scenario->traffic[i],
                       .src = end(step, c.src),
                       .dst = end(step, c.dst),
                       .saddr = c.src.ip,
                       .daddr = c.dst.ip,
                       .sport = static_cast<uint16_t>(40000 + i),
                       .dport = c.port});
    }
    ns3sim::LoadRunner runner(*path_, mss());
    const uint64_t packets0 = path_->packets();
    const auto t0 = std::chrono::steady_clock::now();
    stats_ = runner.run(std::move(flows), options_.progress);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const uint64_t n = path_->packets() - packets0;
    char line[200];
    std::snprintf(line, sizeof line,
                  "load: %llu pod packets (every hop through the programs%s) in %.3f s wall: %.0f "
                  "simulated packets/s",
                  static_cast<unsigned long long>(n),
                  options_.verdict_cache == "on" ? " or the reply verdict cache" : "", wall,
                  wall > 0 ? double(n) / wall : 0.0);
    notes_.push_back(line);
    for (auto& [name, n] : nodes_) drainEvents(n);  // the load's events are not the probes'
  }

  PodEnd end(const StepState& step, const model::FlowEndpoint& e) const {
    if (!e.pod) return {};
    const auto& pod = step.cluster->pods[*e.pod];
    auto it = step.topology->pod_node.find(pod.ref());
    if (it == step.topology->pod_node.end()) return {};
    return {.node = it->second, .identity = pod.identity};
  }

  void probeOne(const StepState& step, SimCell& c, uint16_t sport) {
    dataplane::PacketSpec fwd{.saddr = c.src.ip, .daddr = c.dst.ip, .protocol = c.protocol};
    dataplane::PacketSpec rep{.saddr = c.dst.ip, .daddr = c.src.ip, .protocol = c.protocol};
    if (c.protocol == model::kProtoICMP) {
      fwd.icmp_type = 8;
      fwd.icmp_id = rep.icmp_id = sport;
      rep.icmp_type = 0;
    } else {
      fwd.sport = rep.dport = sport;
      fwd.dport = rep.sport = c.port;
      fwd.tcp_flags = dataplane::kTcpSyn;
      rep.tcp_flags = dataplane::kTcpSyn | dataplane::kTcpAck;
    }
    const PodEnd src = end(step, c.src), dst = end(step, c.dst);
    std::optional<HopOutcome> there, back;
    const uint64_t start = ns3sim::Network::nowNs();
    path_->send(fwd, src, dst, [&, this](const HopOutcome& o) {
      there = o;
      if (o.cell == Cell::Allowed)
        path_->send(rep, dst, src, [&](const HopOutcome& b) { back = b; });
    });
    ns3sim::Network::run();
    if (!there) {
      c.observed = Cell::Blocked;
      c.note = "the request was lost in the underlay (queue drop)";
    } else if (there->cell != Cell::Allowed) {
      c.observed = there->cell;
      c.note = there->how.empty() ? "dropped by a program in ns-3" : there->how;
    } else if (!back || back->cell != Cell::Allowed) {
      c.observed = Cell::Blocked;
      c.note = "request passed, the reply was dropped" +
               (back && !back->how.empty() ? ": " + back->how : std::string());
    } else {
      c.observed = Cell::Allowed;
      c.note = "ns-3: request and reply over the underlay";
      rtts_.push_back(back->done_ns - start);
    }
  }

  SimOptions options_;
  std::map<std::string, SimNode> nodes_;
  std::vector<std::string> notes_;
  dataplane::IdentityStabilizer identities_;
  ns3sim::UnderlayGraph graph_;
  std::unique_ptr<ns3sim::Network> net_;
  std::unique_ptr<ns3sim::PodPath> path_;
  std::vector<uint64_t> rtts_;  // simulated round trips of the allowed probes
  std::vector<FlowStats> stats_;
  bool overlay_ = true;
};

}  // namespace

std::unique_ptr<Backend> makeNs3Backend(const SimOptions& options) {
  return std::make_unique<Ns3Backend>(options);
}

}  // namespace membrane::sim
