// SPDX-License-Identifier: Apache-2.0
// The bpf backend: every probe's packets through the node datapaths with
// BPF_PROG_TEST_RUN, hop by hop: the source pod's from-container program on its node, the
// overlay hop when the pods sit on different nodes in overlay mode, the destination pod's
// to-container program on its node; then the reply the same way back (it must pass as
// conntrack reply traffic). Maps are filled by the node agent from Engine::compile() and
// the ipcache, exactly as on a node.
#include <unistd.h>

#include "dataplane/packet.h"
#include "sim/agents.h"

namespace membrane::sim {
namespace {

constexpr int kTcOk = 0;
constexpr int kTcShot = 2;
constexpr int kTcRedirect = 7;

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
  Cell pass(const StepState& step, const dataplane::PacketSpec& spec,
            const model::FlowEndpoint& src, const model::FlowEndpoint& dst, std::string* how) {
    std::vector<uint8_t> frame = dataplane::buildIpv4Frame(spec);
    const std::string sn = nodeOf(step, src), dn = nodeOf(step, dst);
    uint32_t mark = 0;
    if (!sn.empty()) {
      auto r = nodes_[sn].agent->datapath().testRun(dataplane::Program::FromContainer, frame);
      if (!r) {
        *how = "test-run failed: " + r.error().message();
        return Cell::Blocked;
      }
      if (r->retval == kTcShot) return Cell::Egress;
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
    }
    return Cell::Allowed;
  }

  void probeOne(const StepState& step, SimCell& c, uint16_t sport) {
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
