// SPDX-License-Identifier: Apache-2.0
#include "sim/ns3/network.h"

#include <ns3/core-module.h>
#include <ns3/internet-module.h>
#include <ns3/network-module.h>
#include <ns3/point-to-point-module.h>
#include <ns3/traffic-control-module.h>

#include <map>

namespace membrane::sim::ns3sim {
namespace {

constexpr uint16_t kCarrierPort = 4789;

// The id of a datagram, carried as a packet tag: it costs no bytes on the wire, so the
// datagram's size is exactly what the modeled packet would occupy.
class IdTag : public ns3::Tag {
 public:
  static ns3::TypeId GetTypeId() {
    static ns3::TypeId tid = ns3::TypeId("membrane::IdTag")
                                 .SetParent<ns3::Tag>()
                                 .SetGroupName("Membrane")
                                 .AddConstructor<IdTag>();
    return tid;
  }
  ns3::TypeId GetInstanceTypeId() const override { return GetTypeId(); }
  uint32_t GetSerializedSize() const override { return 8; }
  void Serialize(ns3::TagBuffer b) const override { b.WriteU64(id); }
  void Deserialize(ns3::TagBuffer b) override { id = b.ReadU64(); }
  void Print(std::ostream& os) const override { os << "id=" << id; }
  uint64_t id = 0;
};

class FnEvent : public ns3::EventImpl {
 public:
  explicit FnEvent(std::function<void()> f) : f_(std::move(f)) {}

 protected:
  void Notify() override { f_(); }

 private:
  std::function<void()> f_;
};

}  // namespace

struct Network::Impl {
  ns3::NodeContainer nodes;
  std::vector<ns3::Ipv4Address> host_addr;
  std::vector<ns3::Ptr<ns3::Socket>> sockets;
  std::function<void(size_t, uint64_t)> arrived;
  ns3::NetDeviceContainer devices;
  uint64_t queue_drops = 0;
  uint64_t sent = 0;

  void onDrop(ns3::Ptr<const ns3::Packet>) { ++queue_drops; }

  void receive(size_t host, ns3::Ptr<ns3::Socket> sock) {
    while (ns3::Ptr<ns3::Packet> p = sock->Recv()) {
      IdTag tag;
      if (p->PeekPacketTag(tag) && arrived) arrived(host, tag.id);
    }
  }

  // One point-to-point link per edge; its two interface indices go into `ifs`.
  void buildLinks(const UnderlayGraph& g, std::vector<std::pair<uint32_t, uint32_t>>& ifs,
                  std::vector<std::pair<ns3::Ipv4Address, ns3::Ipv4Address>>& addrs) {
    ns3::Ipv4AddressHelper ip;
    ip.SetBase("10.0.0.0", "255.255.255.252");
    for (const auto& e : g.edges) {
      ns3::PointToPointHelper p2p;
      p2p.SetDeviceAttribute("DataRate", ns3::DataRateValue(ns3::DataRate(e.link.bandwidth_bps)));
      p2p.SetDeviceAttribute("Mtu", ns3::UintegerValue(e.link.mtu));
      p2p.SetChannelAttribute("Delay", ns3::TimeValue(ns3::NanoSeconds(e.link.delay_ns)));
      p2p.SetQueue("ns3::DropTailQueue<Packet>", "MaxSize",
                   ns3::QueueSizeValue(ns3::QueueSize(std::to_string(e.link.queue_packets) + "p")));
      ns3::NetDeviceContainer d = p2p.Install(nodes.Get(e.a), nodes.Get(e.b));
      devices.Add(d);
      for (uint32_t i = 0; i < 2; ++i) {
        auto dev = ns3::DynamicCast<ns3::PointToPointNetDevice>(d.Get(i));
        dev->GetQueue()->TraceConnectWithoutContext("Drop", ns3::MakeCallback(&Impl::onDrop, this));
      }
      ns3::Ipv4InterfaceContainer ic = ip.Assign(d);
      ip.NewNetwork();
      ifs.emplace_back(ic.Get(0).second, ic.Get(1).second);
      addrs.emplace_back(ic.GetAddress(0), ic.GetAddress(1));
    }
  }

  // Host routes towards every host along the graph's shortest paths.
  void route(const UnderlayGraph& g, const std::vector<std::pair<uint32_t, uint32_t>>& ifs,
             const std::vector<std::pair<ns3::Ipv4Address, ns3::Ipv4Address>>& addrs) {
    ns3::Ipv4StaticRoutingHelper helper;
    for (size_t v = 0; v < g.names.size(); ++v) {
      auto rt = helper.GetStaticRouting(nodes.Get(v)->GetObject<ns3::Ipv4>());
      for (size_t h = 0; h < g.hosts; ++h) {
        const size_t e = g.next_edge[v][h];
        if (v == h || e == SIZE_MAX) continue;
        const bool a_side = g.edges[e].a == v;
        const uint32_t out_if = a_side ? ifs[e].first : ifs[e].second;
        const ns3::Ipv4Address next = a_side ? addrs[e].second : addrs[e].first;
        rt->AddHostRouteTo(host_addr[h], next, out_if);
      }
    }
  }
};

Network::Network(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Network::~Network() {
  impl_->sockets.clear();
  ns3::Simulator::Destroy();
}

std::unique_ptr<Network> Network::create(const UnderlayGraph& g, uint32_t seed) {
  ns3::RngSeedManager::SetSeed(seed == 0 ? 1 : seed);
  ns3::RngSeedManager::SetRun(1);
  auto impl = std::make_unique<Impl>();
  impl->nodes.Create(g.names.size());
  ns3::InternetStackHelper stack;
  stack.SetRoutingHelper(ns3::Ipv4StaticRoutingHelper());
  stack.Install(impl->nodes);
  std::vector<std::pair<uint32_t, uint32_t>> ifs;
  std::vector<std::pair<ns3::Ipv4Address, ns3::Ipv4Address>> addrs;
  impl->buildLinks(g, ifs, addrs);
  // The internet stack puts a 1000-packet pfifo queue disc in front of every device: gone,
  // so a link's queue is the one scenario.yaml states.
  ns3::TrafficControlHelper().Uninstall(impl->devices);
  // Without a queue disc, a packet meeting a full device queue is dropped by the traffic
  // control layer (the device stops its queue when full): count those too.
  for (uint32_t i = 0; i < impl->nodes.GetN(); ++i) {
    impl->nodes.Get(i)->GetObject<ns3::TrafficControlLayer>()->TraceConnectWithoutContext(
        "TcDrop", ns3::MakeCallback(&Impl::onDrop, impl.get()));
  }
  // A host's address: the one of its first link.
  impl->host_addr.resize(g.hosts);
  for (size_t h = 0; h < g.hosts; ++h) {
    impl->host_addr[h] = impl->nodes.Get(h)->GetObject<ns3::Ipv4>()->GetAddress(1, 0).GetLocal();
  }
  impl->route(g, ifs, addrs);
  Impl* raw = impl.get();
  for (size_t h = 0; h < g.hosts; ++h) {
    auto s = ns3::Socket::CreateSocket(impl->nodes.Get(h), ns3::UdpSocketFactory::GetTypeId());
    s->Bind(ns3::InetSocketAddress(ns3::Ipv4Address::GetAny(), kCarrierPort));
    s->SetRecvCallback(ns3::Callback<void, ns3::Ptr<ns3::Socket>>(
        [raw, h](ns3::Ptr<ns3::Socket> sock) { raw->receive(h, sock); }));
    impl->sockets.push_back(s);
  }
  return std::unique_ptr<Network>(new Network(std::move(impl)));
}

void Network::send(size_t from, size_t to, uint32_t payload, uint64_t id) {
  auto p = ns3::Create<ns3::Packet>(payload);
  IdTag tag;
  tag.id = id;
  p->AddPacketTag(tag);
  ++impl_->sent;
  impl_->sockets[from]->SendTo(p, 0, ns3::InetSocketAddress(impl_->host_addr[to], kCarrierPort));
}

void Network::onArrival(std::function<void(size_t, uint64_t)> f) { impl_->arrived = std::move(f); }

uint64_t Network::nowNs() { return ns3::Simulator::Now().GetNanoSeconds(); }

void Network::schedule(uint64_t delay_ns, std::function<void()> f) {
  ns3::Simulator::Schedule(ns3::NanoSeconds(delay_ns), ns3::Create<FnEvent>(std::move(f)));
}

void Network::run() { ns3::Simulator::Run(); }

uint64_t Network::queueDrops() const { return impl_->queue_drops; }
uint64_t Network::datagramsSent() const { return impl_->sent; }

}  // namespace membrane::sim::ns3sim
