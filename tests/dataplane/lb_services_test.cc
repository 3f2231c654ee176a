// SPDX-License-Identifier: Apache-2.0
// servicesFromCluster(): which frontends and backends the datapath gets from the model.
#include "dataplane/lb_services.h"

#include <gtest/gtest.h>

namespace membrane::dataplane {
namespace {

model::Pod pod(const std::string& name, std::optional<uint32_t> ip, const std::string& node,
               std::vector<model::ContainerPort> ports = {}) {
  model::Pod p;
  p.namespace_ = "default";
  p.name = name;
  p.ip = ip;
  p.node_name = node;
  p.ports = std::move(ports);
  return p;
}

TEST(ServicesFromCluster, ResolvesTargetPortsPerPodAndSkipsWhatHasNoVip) {
  model::Cluster c;
  c.pods.push_back(pod("a", 0x0A000101, "n1", {{.name = "http", .port = 8080}}));
  c.pods.push_back(pod("b", 0x0A000201, "", {{.name = "http", .port = 9090}}));
  c.pods.push_back(pod("c", 0x0A000301, "n2"));  // no port named http
  c.pods.push_back(pod("d", std::nullopt, "n2", {{.name = "http", .port = 8080}}));  // no IP
  model::Service s;
  s.namespace_ = "default";
  s.name = "web";
  s.selector = model::StringMap{};
  s.cluster_ip = 0x0A60000A;
  s.ports = {{.name = "web", .port = 80, .target_port = "http", .protocol = model::kProtoTCP},
             {.name = "num", .port = 81, .target_port = "7000", .protocol = model::kProtoTCP},
             {.name = "sctp", .port = 82, .target_port = "82", .protocol = model::kProtoSCTP}};
  s.backends = {0, 1, 2, 3};
  c.services.push_back(s);
  model::Service headless = s;
  headless.name = "headless";
  headless.cluster_ip.reset();
  c.services.push_back(headless);

  const ServiceState st = servicesFromCluster(c, "default-node");
  ASSERT_EQ(st.size(), 2u);  // 80 and 81; SCTP and the headless service have no frontend
  const auto& named = st.at({.vip = 0x0A60000A, .port = 80, .proto = 6});
  ASSERT_EQ(named.backends.size(), 2u);
  EXPECT_EQ(named.backends[0], (LbBackend{.ip = 0x0A000101, .port = 8080, .node = "n1"}));
  EXPECT_EQ(named.backends[1], (LbBackend{.ip = 0x0A000201, .port = 9090, .node = "default-node"}));
  const auto& numeric = st.at({.vip = 0x0A60000A, .port = 81, .proto = 6});
  EXPECT_EQ(numeric.backends.size(), 3u);  // every pod with an address, port 7000
  for (const LbBackend& b : numeric.backends) EXPECT_EQ(b.port, 7000);
}

TEST(ServicesFromCluster, ServiceWithoutSelectorTakesItsSliceAddresses) {
  model::Cluster c;
  model::Service s;
  s.namespace_ = "default";
  s.name = "ext";
  s.cluster_ip = 0x0A60000B;
  s.ports = {{.name = "db", .port = 5432, .target_port = "5432", .protocol = model::kProtoTCP}};
  c.services.push_back(s);
  model::EndpointSlice e;
  e.namespace_ = "default";
  e.service_name = "ext";
  e.addresses = {0xC0A80001, 0xC0A80002};
  e.ports = {{.name = "db", .port = 15432, .protocol = model::kProtoTCP}};
  c.endpoint_slices.push_back(e);
  const ServiceState st = servicesFromCluster(c, "n");
  const auto& svc = st.at({.vip = 0x0A60000B, .port = 5432, .proto = 6});
  ASSERT_EQ(svc.backends.size(), 2u);
  EXPECT_EQ(svc.backends[1].ip, 0xC0A80002u);
  EXPECT_EQ(svc.backends[1].port, 15432);
}

}  // namespace
}  // namespace membrane::dataplane
