// SPDX-License-Identifier: Apache-2.0
// The bpf backend: every probe's packets through the node datapaths with
// BPF_PROG_TEST_RUN, hop by hop: the source pod's from-container program on its node, the
// overlay hop when the pods sit on different nodes in overlay mode, the destination pod's
// to-container program on its node; then the reply the same way back (it must pass as
// conntrack reply traffic). Maps are filled by the node agent from Engine::compile() and
// the ipcache, exactly as on a node. A probe to a Service goes to its frontend: the
// destination is the backend the client's program DNATed to (read from its output packet),
// and the reply must come back into the client with the frontend as its source (reverse NAT).
#include <unistd.h>

#include <functional>

#include "dataplane/packet.h"
#include "model/ip.h"
#include "sim/agents.h"

namespace membrane::sim {
namespace {

constexpr int kTcOk = 0;
constexpr int kTcShot = 2;
constexpr int kTcRedirect = 7;

// The addresses and ports of an Ethernet/IPv4 frame a program returned (host order).
struct FrameTuple {
  uint32_t saddr = 0, daddr = 0;
  uint16_t sport = 0, dport = 0;
};

std::optional<FrameTuple> parseFrame(const std::vector<uint8_t>& f) {
  constexpr size_t kEth = 14;
  if (f.size() < kEth + 20 || f[12] != 0x08 || f[13] != 0x00 || (f[kEth] >> 4) != 4) {
    return std::nullopt;
  }
  auto be32 = [&](size_t o) {
    return (uint32_t{f[o]} << 24) | (uint32_t{f[o + 1]} << 16) | (uint32_t{f[o + 2]} << 8) |
           f[o + 3];
  };
  FrameTuple t{.saddr = be32(kEth + 12), .daddr = be32(kEth + 16)};
  const size_t l4 = kEth + size_t{f[kEth] & 0x0fu} * 4;
  const uint8_t proto = f[kEth + 9];
  const bool ports =
      proto == model::kProtoTCP || proto == model::kProtoUDP || proto == model::kProtoSCTP;
  if (ports && f.size() >= l4 + 4) {
    t.sport = static_cast<uint16_t>((f[l4] << 8) | f[l4 + 1]);
    t.dport = static_cast<uint16_t>((f[l4 + 2] << 8) | f[l4 + 3]);
  }
  return t;
}

std::string addrPort(uint32_t ip, uint16_t port) {
  return model::formatIpv4(ip) + ":" + std::to_string(port);
}

// Where the source's egress program sent a packet: the destination end, or (a Service) the
// backend it DNATed to. Fills *how and returns nullopt when the output names no backend.
using ResolveDst =
    std::function<std::optional<model::FlowEndpoint>(const std::vector<uint8_t>&, std::string*)>;

class BpfBackend final : public Backend {
 public:
  std::string name() const override { return "bpf"; }

  std::optional<std::string> apply(const StepState& step) override {
    if (geteuid() != 0) return "needs root (BPF_PROG_TEST_RUN)";
    auto states = desiredStates(step, identities_);
    for (auto& [name, state] : states) {
      SimNode& n = nodes_[name];
      if (!n.agent) {
        n.name = name;
        // Overlay: any non-zero device index makes the program encapsulate; test-run does
        // not perform the redirect, the runner plays the tunnel.
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

  void probe(const StepState& step, std::vector<SimCell>& cells) override {
    uint16_t sport = 20000;
    for (auto& c : cells) {
      probeOne(step, c, sport++);
      for (auto& [name, n] : nodes_) {
        for (const auto& ev : drainEvents(n)) {
          c.events.push_back(name + ": " + dataplane::formatFlowEvent(ev));
        }
      }
    }
  }

  std::vector<std::string> notes() const override {
    auto out = notes_;
    out.push_back(
        "overlay hop: test-run cannot carry tunnel metadata, so the runner hands the source "
        "identity to the destination's to-container program in skb->mark, as "
        "membrane_from_overlay does after checking the VNI (the netns backend runs the real "
        "VXLAN path)");
    return out;
  }

 private:
  // The node that runs a flow end's programs, or empty (not a pod: no program of ours).
  std::string nodeOf(const StepState& step, const model::FlowEndpoint& e) const {
    if (!e.pod) return "";
    auto it = step.topology->pod_node.find(step.cluster->pods[*e.pod].ref());
    return it == step.topology->pod_node.end() ? "" : it->second;
  }

  // One direction: source egress, tunnel, destination ingress. Returns the cell it yields.
  // `resolve` (a Service) names the destination from the egress program's output; `out`
  // receives the packet the destination's ingress program delivered.
  Cell pass(const StepState& step, const dataplane::PacketSpec& spec,
            const model::FlowEndpoint& src, model::FlowEndpoint dst, std::string* how,
            const ResolveDst& resolve = nullptr, std::vector<uint8_t>* out = nullptr) {
    std::vector<uint8_t> frame = dataplane::buildIpv4Frame(spec);
    const std::string sn = nodeOf(step, src);
    std::string dn = nodeOf(step, dst);
    uint32_t mark = 0;
    if (!sn.empty()) {
      auto r = nodes_[sn].agent->datapath().testRun(dataplane::Program::FromContainer, frame);
      if (!r) {
        *how = "test-run failed: " + r.error().message();
        return Cell::Blocked;
      }
      // test-run returns the packet even when the program drops it: a Service's backend is
      // known for an egress drop too (policy sees the backend, after DNAT).
      std::optional<model::FlowEndpoint> d;
      if (resolve) d = resolve(r->data_out, how);
      if (r->retval == kTcShot) return Cell::Egress;
      if (resolve) {
        if (!d) return Cell::Blocked;
        dst = *d;
        dn = nodeOf(step, dst);
      }
      const bool tunnel = step.routing == Routing::Overlay && !dn.empty() && dn != sn;
      if (tunnel != (r->retval == kTcRedirect) || (!tunnel && r->retval != kTcOk)) {
        *how = "from-container returned " + std::to_string(r->retval) +
               (tunnel ? ", expected a redirect into the tunnel" : ", expected TC_ACT_OK");
        return Cell::Blocked;
      }
      frame = r->data_out;
      if (tunnel) {
        mark = MEMBRANE_MARK_MAGIC_IDENTITY | (step.cluster->pods[*src.pod].identity & 0xffffff);
        *how = "through the overlay hop (source identity in the VNI)";
      }
    }
    if (!dn.empty()) {
      auto r =
          nodes_[dn].agent->datapath().testRun(dataplane::Program::ToContainer, frame, 1, mark);
      if (!r) {
        *how = "test-run failed: " + r.error().message();
        return Cell::Blocked;
      }
      if (r->retval == kTcShot) return Cell::Ingress;
      if (r->retval != kTcOk) {
        *how = "to-container returned " + std::to_string(r->retval);
        return Cell::Blocked;
      }
      if (out != nullptr) *out = r->data_out;
    }
    return Cell::Allowed;
  }

  // The backend pod a packet to a Service's frontend was DNATed to, from the output of the
  // client's from-container program (*t: its addresses and ports).
  std::optional<model::FlowEndpoint> backendOf(const StepState& step, const SimCell& c,
                                               const std::vector<uint8_t>& data, FrameTuple* t,
                                               std::string* how) const {
    auto p = parseFrame(data);
    if (!p) {
      *how = "from-container returned no IPv4 packet for the frontend";
      return std::nullopt;
    }
    *t = *p;
    if (p->daddr == c.dst.ip) {
      *how = "from-container did not DNAT the frontend " + addrPort(c.dst.ip, c.port) +
             " (no service entry for it in the node's maps)";
      return std::nullopt;
    }
    const auto& pods = step.cluster->pods;
    for (size_t i = 0; i < pods.size(); ++i) {
      if (pods[i].ip == p->daddr) return model::FlowEndpoint{.pod = i, .ip = p->daddr};
    }
    *how = "from-container DNATed the frontend to " + addrPort(p->daddr, p->dport) +
           ", which no pod has";
    return std::nullopt;
  }

  // A cell whose destination is a Service: the request to its frontend through the client's
  // from-container (which DNATs it), on to the backend it picked; the reply from the backend
  // must enter the client with the frontend as its source again (reverse NAT), else the
  // client's socket would never see it: the cell fails.
  void probeService(const StepState& step, SimCell& c, uint16_t sport) {
    c.observed = Cell::Blocked;
    if (nodeOf(step, c.src).empty() || c.protocol == model::kProtoICMP) {
      c.note = c.protocol == model::kProtoICMP
                   ? "a Service balances TCP, UDP and SCTP only, not ICMP"
                   : c.from + " runs no program of ours: nothing DNATs the frontend in test-run";
      return;
    }
    dataplane::PacketSpec fwd{.saddr = c.src.ip,
                              .daddr = c.dst.ip,
                              .protocol = c.protocol,
                              .sport = sport,
                              .dport = c.port,
                              .tcp_flags = dataplane::kTcpSyn};
    FrameTuple dnat;
    std::optional<model::FlowEndpoint> backend;
    std::string how;
    c.observed =
        pass(step, fwd, c.src, c.dst, &how, [&](const std::vector<uint8_t>& data, std::string* h) {
          backend = backendOf(step, c, data, &dnat, h);
          return backend;
        });
    if (!backend) {
      c.note = how;
      return;
    }
    const std::string to = " (DNATed to " + step.cluster->pods[*backend->pod].ref() + " at " +
                           addrPort(dnat.daddr, dnat.dport) + " on " + nodeOf(step, *backend) + ")";
    if (c.observed != Cell::Allowed) {
      c.note = "request to the frontend dropped" + to;
      return;
    }
    dataplane::PacketSpec rep{.saddr = dnat.daddr,
                              .daddr = c.src.ip,
                              .protocol = c.protocol,
                              .sport = dnat.dport,
                              .dport = dnat.sport,
                              .tcp_flags = dataplane::kTcpSyn | dataplane::kTcpAck};
    std::vector<uint8_t> out;
    std::string rhow;
    if (pass(step, rep, *backend, c.src, &rhow, nullptr, &out) != Cell::Allowed) {
      c.observed = Cell::Blocked;
      c.note =
          "request passed" + to + ", the reply was dropped" + (rhow.empty() ? "" : ": " + rhow);
      return;
    }
    auto t = parseFrame(out);
    if (!t || t->saddr != c.dst.ip || t->sport != c.port) {
      c.observed = Cell::Blocked;
      c.note = "request passed" + to + ", but the reply entered " + c.from + " from " +
               (t ? addrPort(t->saddr, t->sport) : std::string("no IPv4 packet")) +
               ", not from the frontend " + addrPort(c.dst.ip, c.port) + " (reverse NAT)";
      return;
    }
    c.note = "test-run hop by hop to the frontend" + to + ", reply reverse-NATed to " +
             addrPort(t->saddr, t->sport);
  }

  void probeOne(const StepState& step, SimCell& c, uint16_t sport) {
    if (!c.service.empty()) {
      probeService(step, c, sport);
      return;
    }
    dataplane::PacketSpec fwd{.saddr = c.src.ip, .daddr = c.dst.ip, .protocol = c.protocol};
    dataplane::PacketSpec rep{.saddr = c.dst.ip, .daddr = c.src.ip, .protocol = c.protocol};
    if (c.protocol == model::kProtoICMP) {
      fwd.icmp_type = 8;
      fwd.icmp_id = sport;
      rep.icmp_type = 0;
      rep.icmp_id = sport;
    } else {
      fwd.sport = sport;
      fwd.dport = c.port;
      rep.sport = c.port;
      rep.dport = sport;
      fwd.tcp_flags = dataplane::kTcpSyn;
      rep.tcp_flags = dataplane::kTcpSyn | dataplane::kTcpAck;
    }
    std::string how;
    c.observed = pass(step, fwd, c.src, c.dst, &how);
    if (c.observed == Cell::Allowed) {
      std::string rhow;
      Cell back = pass(step, rep, c.dst, c.src, &rhow);
      if (back != Cell::Allowed) {
        c.observed = Cell::Blocked;
        how = "request passed, the reply was dropped" + (rhow.empty() ? "" : ": " + rhow);
      }
    }
    c.note = how.empty() ? "test-run hop by hop, request and reply" : how;
  }

  std::map<std::string, SimNode> nodes_;
  std::vector<std::string> notes_;
  dataplane::IdentityStabilizer identities_;
};

}  // namespace

std::unique_ptr<Backend> makeBpfBackend(const SimOptions&) {
  return std::make_unique<BpfBackend>();
}

}  // namespace membrane::sim
