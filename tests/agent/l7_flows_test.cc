// SPDX-License-Identifier: Apache-2.0
// The proxy's access record, written by membrane-proxy's own serializer, read back by the
// agent into a Hubble L7 flow.
#include "agent/l7_flows.h"

#include <gtest/gtest.h>

#include "proxy/access_log.h"

namespace membrane::agent {
namespace {

TEST(L7Flows, AProxyAccessRecordBecomesAnL7Flow) {
  proxy::AccessRecord r{.source = "10.0.0.1:41234",
                        .destination = "10.0.0.2:80",
                        .source_identity = 1001,
                        .destination_identity = 1002,
                        .method = "GET",
                        .url = "http://server/private",
                        .code = 403,
                        .verdict = "DENIED",
                        .latency_ns = 0,
                        .time_unix_ns = 1796327210236793607ULL};
  std::string err;
  auto f = l7FlowFromAccessRecord(proxy::accessRecordJson(r), "n1", &err);
  ASSERT_TRUE(f) << err;
  EXPECT_EQ(f->type(), flow::L7);
  EXPECT_EQ(f->verdict(), flow::DROPPED);
  EXPECT_EQ(f->event_type().type(), kMessageTypeAccessLog);
  EXPECT_EQ(f->time().seconds(), 1796327210);
  EXPECT_EQ(f->time().nanos(), 236793607);
  EXPECT_EQ(f->ip().source(), "10.0.0.1");
  EXPECT_EQ(f->l4().tcp().source_port(), 41234u);
  EXPECT_EQ(f->l4().tcp().destination_port(), 80u);
  EXPECT_EQ(f->source().identity(), 1001u);
  EXPECT_EQ(f->destination().identity(), 1002u);
  EXPECT_EQ(f->node_name(), "n1");
  ASSERT_TRUE(f->l7().has_http());
  EXPECT_EQ(f->l7().type(), flow::RESPONSE);
  EXPECT_EQ(f->l7().http().code(), 403u);
  EXPECT_EQ(f->l7().http().method(), "GET");
  EXPECT_EQ(f->l7().http().url(), "http://server/private");
  EXPECT_EQ(f->l7().http().protocol(), "HTTP/1.1");

  r.verdict = "FORWARDED";
  r.code = 200;
  r.latency_ns = 758621;
  f = l7FlowFromAccessRecord(proxy::accessRecordJson(r), "n1", &err);
  ASSERT_TRUE(f) << err;
  EXPECT_EQ(f->verdict(), flow::FORWARDED);
  EXPECT_EQ(f->l7().latency_ns(), 758621u);
}

TEST(L7Flows, BadLinesNameTheField) {
  std::string err;
  EXPECT_FALSE(l7FlowFromAccessRecord("not json", "n1", &err));
  EXPECT_EQ(err, "not a JSON object");
  EXPECT_FALSE(l7FlowFromAccessRecord(R"({"source": 1})", "n1", &err));
  EXPECT_EQ(err, "source: expected a string");
}

}  // namespace
}  // namespace membrane::agent
