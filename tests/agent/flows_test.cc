// SPDX-License-Identifier: Apache-2.0
// Flows without a kernel: ring-buffer records decoded and enriched from a desired state
// loaded from manifests (names, labels, the deciding rule with its file:line), the flow
// ring's overwrite and lost accounting, and Hubble's FlowFilter semantics.
#include "agent/flows.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <chrono>

#include "agent/desired.h"
#include "agent/flow_filter.h"
#include "model/ip.h"

namespace membrane::agent {
namespace {

constexpr const char* kManifests = R"(apiVersion: v1
kind: Pod
metadata: {namespace: shop, name: web-0, labels: {app: web}}
spec: {nodeName: node-2}
status: {podIP: 10.0.2.10}
---
apiVersion: v1
kind: Pod
metadata: {namespace: shop, name: client-0, labels: {app: client}}
spec: {nodeName: node-2}
status: {podIP: 10.0.2.11}
---
apiVersion: v1
kind: Node
metadata: {name: node-2}
spec: {podCIDR: 10.0.2.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.0.3}]}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {namespace: shop, name: web-ingress}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
)";

uint32_t be(const char* ip) { return htonl(*model::parseIpv4(ip)); }

class FlowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = AgentConfig{.node_name = "node-1",
                          .node_ip = *model::parseIpv4("192.168.0.2"),
                          .pod_cidr = *model::parseIpv4("10.0.1.0"),
                          .pod_cidr_len = 24,
                          .manifests = "/nonexistent",
                          .cluster_name = "c1"};
    ManifestSet set;
    set.texts.push_back({.name = "policies/shop.yaml", .text = kManifests});
    model_ = buildDesiredModel(config_, set, {});
    ASSERT_TRUE(model_->engine) << model_->loaded.diags.errors()[0].str();
    ids_.update(model_->loaded.cluster);
    ctx_ = buildFlowContext(config_, *model_, ids_);
    for (const auto& p : model_->loaded.cluster.pods) {
      if (p.name == "web-0") web_id_ = ids_(p.identity);
      if (p.name == "client-0") client_id_ = ids_(p.identity);
    }
    for (const auto& r : model_->loaded.cluster.policies.rules) {
      if (r.policy_name == "web-ingress") cookie_ = static_cast<uint32_t>(r.id + 1);
    }
    ASSERT_NE(web_id_, 0u);
    ASSERT_NE(cookie_, 0u);
  }

  // client-0 -> web-0:8080 TCP SYN, seen entering web-0 (ingress) on this node.
  dataplane::FlowEvent synEvent() const {
    dataplane::FlowEvent ev{};
    ev.timestamp_ns = 5'000'000'000ULL;
    ev.type = MEMBRANE_EVENT_FLOW;
    ev.verdict = MEMBRANE_VERDICT_FORWARDED;
    ev.direction = MEMBRANE_DIR_INGRESS;
    ev.ct_status = MEMBRANE_CT_NEW;
    ev.match_type = MEMBRANE_MATCH_L3_L4;
    ev.endpoint_id = 7;
    ev.ifindex = 42;
    ev.src_identity = client_id_;
    ev.dst_identity = web_id_;
    ev.saddr = be("10.0.2.11");
    ev.daddr = be("10.0.2.10");
    ev.sport = htons(40000);
    ev.dport = htons(8080);
    ev.protocol = IPPROTO_TCP;
    ev.tcp_flags = 0x02;
    ev.policy_identity = client_id_;
    ev.policy_cookie = cookie_;
    ev.eth_proto = htons(0x0800);
    return ev;
  }

  flow::Flow flowOf(const dataplane::FlowEvent& ev) const {
    FlowRecord r;
    FlowDecoder d;
    d.anchor();
    d.decode(ev, ctx_->generation, r);
    flow::Flow f;
    toFlow(r, ctx_.get(), f);
    return f;
  }

  AgentConfig config_;
  std::unique_ptr<DesiredModel> model_;
  dataplane::IdentityStabilizer ids_;
  std::shared_ptr<FlowContext> ctx_;
  uint32_t web_id_ = 0, client_id_ = 0, cookie_ = 0;
};

TEST_F(FlowsTest, ForwardedFlowCarriesNamesLabelsAndTheAllowingRule) {
  const flow::Flow f = flowOf(synEvent());
  EXPECT_EQ(f.verdict(), flow::FORWARDED);
  EXPECT_EQ(f.node_name(), "node-1");
  EXPECT_EQ(f.traffic_direction(), flow::INGRESS);
  EXPECT_EQ(f.trace_observation_point(), flow::TO_ENDPOINT);
  EXPECT_EQ(f.event_type().type(), 4);  // trace
  EXPECT_EQ(f.trace_reason(), flow::NEW);
  ASSERT_TRUE(f.has_is_reply());
  EXPECT_FALSE(f.is_reply().value());
  EXPECT_EQ(f.ip().source(), "10.0.2.11");
  EXPECT_EQ(f.ip().destination(), "10.0.2.10");
  EXPECT_EQ(f.ip().ipversion(), flow::IPv4);
  ASSERT_TRUE(f.l4().has_tcp());
  EXPECT_EQ(f.l4().tcp().source_port(), 40000u);
  EXPECT_EQ(f.l4().tcp().destination_port(), 8080u);
  EXPECT_TRUE(f.l4().tcp().flags().syn());
  EXPECT_FALSE(f.l4().tcp().flags().ack());
  EXPECT_EQ(f.source().pod_name(), "client-0");
  EXPECT_EQ(f.source().namespace_(), "shop");
  EXPECT_EQ(f.source().id(), 0u);  // not the local endpoint of an ingress event
  EXPECT_EQ(f.destination().id(), 7u);
  EXPECT_EQ(f.destination().identity(), web_id_);
  EXPECT_EQ(f.destination().cluster_name(), "c1");
  EXPECT_NE(
      std::find(f.destination().labels().begin(), f.destination().labels().end(), "k8s:app=web"),
      f.destination().labels().end());
  EXPECT_EQ(f.interface().index(), 42u);
  ASSERT_EQ(f.ingress_allowed_by_size(), 1);
  EXPECT_EQ(f.egress_allowed_by_size(), 0);
  const flow::Policy& p = f.ingress_allowed_by(0);
  EXPECT_EQ(p.name(), "web-ingress");
  EXPECT_EQ(p.namespace_(), "shop");
  EXPECT_EQ(p.kind(), "CiliumNetworkPolicy");
  EXPECT_EQ(p.membrane_source().name(), "policies/shop.yaml");
  EXPECT_EQ(p.membrane_source().line(), 25u);  // "- fromEndpoints: ..." in kManifests
  EXPECT_EQ(p.membrane_rule(), "spec.ingress[0]");
  // Wall clock: the monotonic stamp moved by the realtime - monotonic offset.
  EXPECT_GT(f.time().seconds(), 1'600'000'000);
}

TEST_F(FlowsTest, DropCarriesReasonAndTheDenyingRuleOnlyForExplicitDeny) {
  auto ev = synEvent();
  ev.verdict = MEMBRANE_VERDICT_DROPPED;
  ev.drop_reason = MEMBRANE_DROP_POLICY_DENY;
  ev.direction = MEMBRANE_DIR_EGRESS;
  flow::Flow f = flowOf(ev);
  EXPECT_EQ(f.verdict(), flow::DROPPED);
  EXPECT_EQ(f.drop_reason_desc(), flow::POLICY_DENY);
  EXPECT_EQ(f.drop_reason(), 181u);
  EXPECT_EQ(f.event_type().type(), 1);
  EXPECT_EQ(f.event_type().sub_type(), 181);
  EXPECT_FALSE(f.has_is_reply());
  EXPECT_EQ(f.source().id(), 7u);
  ASSERT_EQ(f.egress_denied_by_size(), 1);
  EXPECT_EQ(f.egress_denied_by(0).name(), "web-ingress");
  // Default deny: no entry decided, no policy named.
  ev.drop_reason = MEMBRANE_DROP_POLICY;
  ev.match_type = MEMBRANE_MATCH_NONE;
  ev.policy_cookie = 0;
  f = flowOf(ev);
  EXPECT_EQ(f.drop_reason_desc(), flow::POLICY_DENIED);
  EXPECT_EQ(f.egress_denied_by_size() + f.ingress_denied_by_size(), 0);
}

TEST_F(FlowsTest, AuditNamesTheWouldBeReasonAndTheDenyingRule) {
  auto ev = synEvent();
  ev.verdict = MEMBRANE_VERDICT_AUDIT;
  ev.drop_reason = MEMBRANE_DROP_POLICY_DENY;
  const flow::Flow f = flowOf(ev);
  EXPECT_EQ(f.verdict(), flow::AUDIT);
  EXPECT_EQ(f.drop_reason_desc(), flow::POLICY_DENY);
  EXPECT_EQ(f.event_type().type(), 4);  // it passed: a trace, not a drop
  ASSERT_EQ(f.ingress_denied_by_size(), 1);
  EXPECT_EQ(f.ingress_allowed_by_size(), 0);
  EXPECT_EQ(f.ingress_denied_by(0).name(), "web-ingress");
}

TEST_F(FlowsTest, IcmpAndUdpLayer4) {
  auto ev = synEvent();
  ev.protocol = IPPROTO_ICMP;
  ev.icmp_type = 8;
  ev.icmp_code = 0;
  flow::Flow f = flowOf(ev);
  ASSERT_TRUE(f.l4().has_icmpv4());
  EXPECT_EQ(f.l4().icmpv4().type(), 8u);
  ev.protocol = IPPROTO_UDP;
  f = flowOf(ev);
  ASSERT_TRUE(f.l4().has_udp());
  EXPECT_EQ(f.l4().udp().destination_port(), 8080u);
  ev.ct_status = MEMBRANE_CT_REPLY;
  f = flowOf(ev);
  EXPECT_TRUE(f.is_reply().value());
}

TEST(FlowRingTest, OverwritesOldestAndCountsWhatAReaderMissed) {
  FlowRing ring(4);
  std::vector<FlowRecord> batch(6);
  for (size_t i = 0; i < batch.size(); ++i) batch[i].time_ns = static_cast<int64_t>(i);
  ring.append(batch);
  EXPECT_EQ(ring.size(), 4u);
  EXPECT_EQ(ring.seen(), 6u);
  auto s = ring.read(1);
  EXPECT_EQ(s.overwritten, 2u);
  ASSERT_EQ(s.records.size(), 4u);
  EXPECT_EQ(s.records.front().seq, 3u);
  EXPECT_EQ(s.records.back().seq, 6u);
  EXPECT_EQ(s.next, 7u);
  EXPECT_EQ(ring.read(0).overwritten, 0u);
  EXPECT_TRUE(ring.read(7).records.empty());
  EXPECT_FALSE(ring.wait(7, std::chrono::milliseconds(1)));
  EXPECT_TRUE(ring.wait(6, std::chrono::milliseconds(1)));
}

TEST(FlowRingTest, ContextsLiveAsLongAsARecordNamesThem) {
  FlowRing ring(2);
  ring.publish(std::make_shared<FlowContext>());
  const uint64_t g1 = ring.currentContext();
  std::vector<FlowRecord> batch(1);
  batch[0].context = g1;
  ring.append(batch);
  ring.publish(std::make_shared<FlowContext>());
  ring.publish(std::make_shared<FlowContext>());
  EXPECT_NE(ring.context(g1), nullptr);  // the oldest record still names it
  batch.assign(2, FlowRecord{.context = ring.currentContext()});
  ring.append(batch);
  ring.publish(std::make_shared<FlowContext>());
  EXPECT_EQ(ring.context(g1), nullptr);
  EXPECT_NE(ring.context(ring.currentContext()), nullptr);
}

class FilterTest : public FlowsTest {
 protected:
  Result<FlowFilters> compile(const std::vector<flow::FlowFilter>& white,
                              const std::vector<flow::FlowFilter>& black = {}) {
    FlowFilters::Filters w, b;
    for (const auto& f : white) *w.Add() = f;
    for (const auto& f : black) *b.Add() = f;
    return FlowFilters::compile(w, b);
  }
  bool passes(const flow::FlowFilter& white, const flow::Flow& f) {
    auto c = compile({white});
    EXPECT_TRUE(c.ok()) << c.error().context;
    return c.ok() && c->match(f);
  }
};

TEST_F(FilterTest, FieldsMatchAndMismatch) {
  const flow::Flow f = flowOf(synEvent());
  flow::FlowFilter x;
  x.add_source_pod("shop/client");
  EXPECT_TRUE(passes(x, f));
  x.Clear();
  x.add_source_pod("default/client");
  EXPECT_FALSE(passes(x, f));
  x.Clear();
  x.add_destination_pod("shop/");
  x.add_destination_port("8080");
  x.add_protocol("TCP");
  EXPECT_TRUE(passes(x, f));
  x.set_destination_port(0, "80");
  EXPECT_FALSE(passes(x, f));  // fields AND
  x.Clear();
  x.add_source_ip("10.0.2.0/24");
  x.add_destination_label("k8s:app=web");
  x.add_verdict(flow::FORWARDED);
  EXPECT_TRUE(passes(x, f));
  x.add_verdict(flow::DROPPED);  // values OR
  EXPECT_TRUE(passes(x, f));
  x.clear_verdict();
  x.add_verdict(flow::DROPPED);
  EXPECT_FALSE(passes(x, f));
  x.Clear();
  x.add_destination_label("app=web,!nope");
  x.add_source_identity(client_id_);
  x.add_node_name("node-*");
  x.add_traffic_direction(flow::INGRESS);
  EXPECT_TRUE(passes(x, f));
  x.clear_traffic_direction();
  x.add_traffic_direction(flow::EGRESS);
  EXPECT_FALSE(passes(x, f));
  x.Clear();
  x.add_event_type()->set_type(1);  // --type drop
  EXPECT_FALSE(passes(x, f));
  x.Clear();
  x.add_tcp_flags()->set_syn(true);
  EXPECT_TRUE(passes(x, f));
  x.mutable_tcp_flags(0)->set_ack(true);
  EXPECT_FALSE(passes(x, f));
}

TEST_F(FilterTest, BlacklistExcludesAndWhitelistsOr) {
  const flow::Flow f = flowOf(synEvent());
  flow::FlowFilter web, other;
  web.add_destination_pod("shop/web");
  other.add_destination_pod("kube-system/");
  auto c = compile({other, web});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->match(f));
  c = compile({}, {web});
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->match(f));
  c = compile({}, {other});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->match(f));
}

TEST_F(FilterTest, InvalidAndUnsupportedFiltersAreRefusedWithTheirPlace) {
  flow::FlowFilter x;
  x.add_source_ip("10.0.0.1");
  x.add_source_ip("10.0.300.1");
  auto c = compile({flow::FlowFilter(), x});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, EINVAL);
  EXPECT_EQ(c.error().context,
            "whitelist[1].source_ip[1]: \"10.0.300.1\": expected an IPv4 address or CIDR");
  x.Clear();
  x.add_destination_port("http");
  c = compile({}, {x});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().context.find("blacklist[0].destination_port[0]"), std::string::npos);
  x.Clear();
  x.add_protocol("gre");
  EXPECT_FALSE(compile({x}).ok());
  x.Clear();
  x.add_source_label("app in (a,b)");
  EXPECT_FALSE(compile({x}).ok());
  x.Clear();
  x.add_http_method("GET");
  c = compile({x});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().context, "whitelist[0].http_method: filter not supported by membrane");
  // A field this build does not know (a newer Hubble's) is refused too.
  x.Clear();
  x.GetReflection()->MutableUnknownFields(&x)->AddVarint(41, 1);
  EXPECT_FALSE(compile({x}).ok());
}

}  // namespace
}  // namespace membrane::agent

namespace membrane::agent {
namespace {

ConfigFlags required() {
  return {{"--node-name", "node-1"},
          {"--node-ip", "192.168.0.2"},
          {"--pod-cidr", "10.0.1.0/24"},
          {"--manifests", "/tmp"},
          {"--socket", "/run/m/agent.sock"}};
}

std::string errorsOf(const model::Diagnostics& d) {
  std::string s;
  for (const auto& e : d.errors()) s += e.str() + "\n";
  return s;
}

TEST(ObserveConfig, DefaultsFollowTheApiSocket) {
  model::Diagnostics d;
  const AgentConfig c = loadConfig("", required(), d);
  ASSERT_TRUE(d.ok()) << errorsOf(d);
  EXPECT_EQ(observerSocketPath(c), "/run/m/hubble.sock");
  EXPECT_EQ(c.flow_ring_size, 4095u);
  EXPECT_TRUE(c.observer_listen.empty());
  EXPECT_TRUE(c.metrics_listen.empty());
}

TEST(ObserveConfig, ListenAddressesAreChecked) {
  auto flags = required();
  flags["--observer-listen"] = "10.0.0.1:4245";  // neither loopback nor the node's IP
  flags["--metrics-listen"] = "10.0.0.1";        // no port
  flags["--flow-ring-size"] = "0";
  model::Diagnostics d;
  loadConfig("", flags, d);
  const std::string e = errorsOf(d);
  EXPECT_NE(e.find("observerListen: \"10.0.0.1:4245\": expected a loopback address or the "
                   "node's IP"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("--metrics-listen: \"10.0.0.1\": expected an IPv4 address and port"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("--flow-ring-size: \"0\": expected an integer 1-1048576"), std::string::npos)
      << e;
  flags = required();
  flags["--observer-listen"] = "127.0.0.1:4245";
  flags["--metrics-listen"] = "10.250.1.1:9962";
  model::Diagnostics ok;
  const AgentConfig c = loadConfig("", flags, ok);
  EXPECT_TRUE(ok.ok()) << errorsOf(ok);
  EXPECT_EQ(c.observer_listen, "127.0.0.1:4245");
  EXPECT_TRUE(loopbackListenAddress("[::1]:80"));
  EXPECT_FALSE(loopbackListenAddress("127.0.0.1:0"));
  EXPECT_FALSE(loopbackListenAddress("127.0.0.1"));
}

}  // namespace
}  // namespace membrane::agent
