// SPDX-License-Identifier: Apache-2.0
#include "sim/ns3/pod_path.h"

#include <algorithm>

#include "bpf/include/ipcache.h"

namespace membrane::sim::ns3sim {
namespace {
constexpr int kTcOk = 0;
constexpr int kTcShot = 2;
constexpr int kTcRedirect = 7;
constexpr uint32_t kEthHeader = 14;
constexpr uint32_t kVxlanOverhead = 50;   // outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
constexpr uint32_t kCarrierHeaders = 28;  // the carrier datagram's own IPv4 + UDP headers
}  // namespace

PodPath::PodPath(std::map<std::string, SimNode>& nodes, Network& net, const UnderlayGraph& g,
                 bool overlay, std::optional<uint32_t> fixed_cost_ns, VerdictCache cache)
    : nodes_(nodes),
      net_(net),
      g_(g),
      overlay_(overlay),
      fixed_cost_ns_(fixed_cost_ns),
      cache_mode_(cache) {
  net_.onArrival([this](size_t, uint64_t id) {
    auto it = in_flight_.find(id);
    if (it == in_flight_.end()) return;
    auto f = std::move(it->second);
    in_flight_.erase(it);
    f();
  });
}

uint32_t PodPath::carrierPayload(size_t ip_len) const {
  // The carrier is a UDP datagram (28 bytes of headers of its own): overlay packets are
  // the inner packet plus VXLAN's 50 bytes; native packets are the inner packet as it is.
  const size_t wire = overlay_ ? ip_len + kVxlanOverhead : ip_len;
  return static_cast<uint32_t>(wire > kCarrierHeaders ? wire - kCarrierHeaders : 0);
}

std::optional<dataplane::TestRunResult> PodPath::run(const std::string& node, dataplane::Program p,
                                                     const std::vector<uint8_t>& frame,
                                                     uint32_t mark, uint64_t* delay_ns,
                                                     std::string* how, bool reply) {
  auto r = runProgram(node, p, frame, mark, reply, how);
  if (!r) return std::nullopt;
  const uint64_t cost = fixed_cost_ns_ ? *fixed_cost_ns_ : r->duration_ns;
  const uint64_t now = Network::nowNs();
  uint64_t& busy = busy_until_[node];
  busy = std::max(busy, now) + cost;
  *delay_ns = busy - now;
  return *r;
}

std::optional<dataplane::TestRunResult> PodPath::runProgram(const std::string& node,
                                                            dataplane::Program p,
                                                            const std::vector<uint8_t>& frame,
                                                            uint32_t mark, bool reply,
                                                            std::string* how) {
  const bool use_cache = reply && cache_mode_ != VerdictCache::Off;
  auto key = std::make_tuple(node, static_cast<int>(p), frame, mark);
  auto hit = use_cache ? cache_.find(key) : cache_.end();
  if (hit != cache_.end() && cache_mode_ == VerdictCache::On) {
    ++cache_hits_;
    return hit->second;
  }
  auto r = nodes_.at(node).agent->datapath().testRun(p, frame, 1, mark);
  if (!r) {
    *how = node + ": test-run failed: " + r.error().message();
    return std::nullopt;
  }
  ++runs_;
  run_ns_ += r->duration_ns;
  if (hit != cache_.end()) {  // verify: the cached result must be the program's
    ++cache_hits_;
    if (hit->second.retval != r->retval || hit->second.data_out != r->data_out) {
      ++cache_mismatches_;
    }
  } else if (use_cache && r->retval == kTcOk) {
    cache_.emplace(std::move(key), *r);
  }
  return *r;
}

void PodPath::send(const dataplane::PacketSpec& spec, const PodEnd& src, const PodEnd& dst,
                   std::function<void(const HopOutcome&)> done, bool reply) {
  std::vector<uint8_t> frame = dataplane::buildIpv4Frame(spec);
  ++packets_;
  if (src.node.empty()) {
    ingress(std::move(frame), 0, dst, std::move(done), reply);
    return;
  }
  HopOutcome out;
  uint64_t delay = 0;
  auto r = run(src.node, dataplane::Program::FromContainer, frame, 0, &delay, &out.how, reply);
  const bool remote = !dst.node.empty() && dst.node != src.node;
  const bool tunnel = overlay_ && remote;
  if (r && r->retval == kTcShot) out.cell = Cell::Egress;
  if (r && r->retval != kTcShot &&
      (tunnel != (r->retval == kTcRedirect) || (!tunnel && r->retval != kTcOk))) {
    out.how = src.node + ": from-container returned " + std::to_string(r->retval) +
              (tunnel ? ", expected a redirect into the tunnel" : ", expected TC_ACT_OK");
  }
  if (!r || r->retval == kTcShot || !out.how.empty()) {
    Network::schedule(delay, [out, done, delay] {
      HopOutcome o = out;
      o.done_ns = Network::nowNs();
      done(o);
    });
    return;
  }
  // Overlay: the VNI carries the source identity; the runner hands it to to-container in
  // skb->mark as membrane_from_overlay does after checking the VNI.
  const uint32_t mark = tunnel ? (MEMBRANE_MARK_MAGIC_IDENTITY | (src.identity & 0xffffff)) : 0;
  auto cont = [this, f = std::move(r->data_out), mark, dst, done, reply]() mutable {
    ingress(std::move(f), mark, dst, std::move(done), reply);
  };
  if (!remote) {
    Network::schedule(delay, std::move(cont));
    return;
  }
  const uint64_t id = next_id_++;
  in_flight_[id] = std::move(cont);
  const size_t from = g_.index.at(src.node), to = g_.index.at(dst.node);
  const uint32_t payload = carrierPayload(frame.size() - kEthHeader);
  Network::schedule(delay, [this, from, to, payload, id] { net_.send(from, to, payload, id); });
}

void PodPath::ingress(std::vector<uint8_t> frame, uint32_t mark, const PodEnd& dst,
                      std::function<void(const HopOutcome&)> done, bool reply) {
  HopOutcome out{.cell = Cell::Allowed};
  uint64_t delay = 0;
  if (!dst.node.empty()) {
    auto r = run(dst.node, dataplane::Program::ToContainer, frame, mark, &delay, &out.how, reply);
    if (!r) {
      out.cell = Cell::Blocked;
    } else if (r->retval == kTcShot) {
      out.cell = Cell::Ingress;
    } else if (r->retval != kTcOk) {
      out.cell = Cell::Blocked;
      out.how = dst.node + ": to-container returned " + std::to_string(r->retval);
    }
  }
  Network::schedule(delay, [out, done] {
    HopOutcome o = out;
    o.done_ns = Network::nowNs();
    done(o);
  });
}

}  // namespace membrane::sim::ns3sim
