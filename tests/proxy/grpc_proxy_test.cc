// SPDX-License-Identifier: Apache-2.0
// HTTP/2 and gRPC through the proxy with real gRPC (grpc++ from Debian) on loopback: a real
// gRPC server (Hubble's Observer service, the protos membrane already builds) as the original
// destination, a real gRPC client talking h2c to the proxy. An allowed method is relayed with
// its body and trailers (unary and server-streaming), a denied one gets PERMISSION_DENIED (a
// gRPC status, not a broken stream) and never reaches the server.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <fstream>
#include <mutex>

#include "observer/observer.grpc.pb.h"
#include "proxy/http_proxy.h"

namespace membrane::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class Observer final : public observer::Observer::Service {
 public:
  grpc::Status ServerStatus(grpc::ServerContext*, const observer::ServerStatusRequest*,
                            observer::ServerStatusResponse* out) override {
    ++calls;
    out->set_num_flows(42);
    return grpc::Status::OK;
  }
  grpc::Status GetNodes(grpc::ServerContext*, const observer::GetNodesRequest*,
                        observer::GetNodesResponse*) override {
    ++calls;
    return grpc::Status::OK;
  }
  grpc::Status GetFlows(grpc::ServerContext*, const observer::GetFlowsRequest* req,
                        grpc::ServerWriter<observer::GetFlowsResponse>* w) override {
    ++calls;
    for (uint64_t i = 0; i < req->number(); ++i) {
      observer::GetFlowsResponse r;
      r.set_node_name("node-" + std::to_string(i) + std::string(1000, 'x'));
      w->Write(r);
    }
    // A status with a message: it travels in the trailers through the proxy.
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "that was all");
  }
  std::atomic<int> calls{0};
};

// Egress rules of 127.0.0.1 towards the server's port: two Observer methods only.
std::string rulesJson(int port) {
  return R"J({"version": 1, "ipcache": [{"cidr": "127.0.0.1/32", "identity": 4242}],
    "entries": [{"endpoint": "127.0.0.1", "direction": "egress", "port": )J" +
         std::to_string(port) + R"J(, "remote_identities": [4242], "http": [
      {"method": "POST", "path": "/observer\\.Observer/(ServerStatus|GetFlows)",
       "origin": "CiliumNetworkPolicy default/grpc spec.egress[0].toPorts[0].rules.http[0]"}]}]})J";
}

class GrpcProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int port = 0;
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&service_);
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    char tmpl[] = "/tmp/membrane-grpc-proxy-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    rules_file_ = dir_ + "/rules.json";
    std::ofstream(rules_file_) << rulesJson(port);
    ProxyConfig cfg{.listen_address = "127.0.0.1",
                    .port = 0,
                    .transparent = false,
                    .rules_file = rules_file_,
                    .threads = 2};
    const tcp::endpoint up(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port));
    proxy_ = std::make_unique<HttpProxy>(
        cfg, [up](const tcp::socket&) { return up; },
        [this](const AccessRecord& r) {
          std::lock_guard<std::mutex> l(mu_);
          log_.push_back(r);
        });
    auto p = proxy_->start();
    ASSERT_TRUE(p) << p.error().str();
    proxy_port_ = *p;
    stub_ = observer::Observer::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(proxy_port_), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    proxy_.reset();
    server_->Shutdown();
    std::remove(rules_file_.c_str());
    ::rmdir(dir_.c_str());
  }
  std::vector<AccessRecord> log() {
    std::lock_guard<std::mutex> l(mu_);
    return log_;
  }
  static void deadline(grpc::ClientContext& ctx) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }

  Observer service_;
  std::unique_ptr<grpc::Server> server_;
  std::string dir_, rules_file_;
  std::unique_ptr<HttpProxy> proxy_;
  uint16_t proxy_port_ = 0;
  std::unique_ptr<observer::Observer::Stub> stub_;
  std::mutex mu_;
  std::vector<AccessRecord> log_;
};

TEST_F(GrpcProxyTest, AllowedUnaryCallIsRelayed) {
  grpc::ClientContext ctx;
  deadline(ctx);
  observer::ServerStatusResponse res;
  const grpc::Status st = stub_->ServerStatus(&ctx, {}, &res);
  ASSERT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  EXPECT_EQ(res.num_flows(), 42u);
  EXPECT_EQ(service_.calls.load(), 1);
  const auto l = log();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].verdict, "FORWARDED");
  EXPECT_EQ(l[0].protocol, "HTTP/2");
  EXPECT_EQ(l[0].method, "POST");
  EXPECT_NE(l[0].url.find("/observer.Observer/ServerStatus"), std::string::npos) << l[0].url;
  EXPECT_EQ(l[0].code, 200u);
  EXPECT_EQ(l[0].source_identity, 4242u);
}

TEST_F(GrpcProxyTest, DeniedMethodGetsPermissionDeniedAndNeverReachesTheServer) {
  grpc::ClientContext ctx;
  deadline(ctx);
  observer::GetNodesResponse res;
  const grpc::Status st = stub_->GetNodes(&ctx, {}, &res);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_NE(st.error_message().find("/observer.Observer/GetNodes"), std::string::npos)
      << st.error_message();
  EXPECT_EQ(service_.calls.load(), 0);
  const auto l = log();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].verdict, "DENIED");
  // The connection stays usable: an allowed call on the same channel still works.
  grpc::ClientContext ctx2;
  deadline(ctx2);
  observer::ServerStatusResponse ok;
  EXPECT_TRUE(stub_->ServerStatus(&ctx2, {}, &ok).ok());
  EXPECT_EQ(service_.calls.load(), 1);
}

TEST_F(GrpcProxyTest, ServerStreamingBodiesAndTrailersAreRelayed) {
  grpc::ClientContext ctx;
  deadline(ctx);
  observer::GetFlowsRequest req;
  req.set_number(300);  // ~300 kB: several windows' worth, so flow control is exercised
  auto reader = stub_->GetFlows(&ctx, req);
  observer::GetFlowsResponse r;
  int n = 0;
  while (reader->Read(&r)) {
    EXPECT_EQ(r.node_name().rfind("node-" + std::to_string(n), 0), 0u);
    ++n;
  }
  const grpc::Status st = reader->Finish();
  EXPECT_EQ(n, 300);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(st.error_message(), "that was all");
}

TEST_F(GrpcProxyTest, ManyConcurrentCallsOnOneConnection) {
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    ts.emplace_back([&] {
      for (int j = 0; j < 25; ++j) {
        grpc::ClientContext ctx;
        deadline(ctx);
        observer::ServerStatusResponse res;
        if (stub_->ServerStatus(&ctx, {}, &res).ok() && res.num_flows() == 42) ++ok;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 200);
}

TEST_F(GrpcProxyTest, GarbageAfterThePrefaceDoesNotHurtTheProxy) {
  asio::io_context ioc;
  for (const std::string& junk :
       {std::string(100, '\xff'), std::string("\x00\x00\x01\x00\x00\x00\x00\x00\x00x", 10)}) {
    tcp::socket s(ioc);
    s.connect({asio::ip::make_address("127.0.0.1"), proxy_port_});
    asio::write(s, asio::buffer("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + junk));
    char buf[4096];
    boost::system::error_code ec;
    // The proxy answers (SETTINGS, GOAWAY) and closes: reading ends with EOF, not a hang.
    while (!ec) s.read_some(asio::buffer(buf), ec);
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
  }
  grpc::ClientContext ctx;
  deadline(ctx);
  observer::ServerStatusResponse res;
  EXPECT_TRUE(stub_->ServerStatus(&ctx, {}, &res).ok());
}

// Plain HTTP/2 (curl with prior knowledge): a request no rule allows gets 403 with the policy
// named, as over HTTP/1.1; it never reaches the server.
TEST_F(GrpcProxyTest, PlainHttp2RequestThatNoRuleAllowsGets403) {
  const std::string cmd =
      "curl -sS --max-time 10 --http2-prior-knowledge -w ' %{http_version} "
      "%{http_code}' http://127.0.0.1:" +
      std::to_string(proxy_port_) + "/admin 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ASSERT_EQ(::pclose(p), 0) << out;
  EXPECT_NE(out.find("Access denied by membrane L7 policy: GET /admin matches no rule of "
                     "CiliumNetworkPolicy default/grpc"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(" 2 403"), std::string::npos) << out;
  EXPECT_EQ(service_.calls.load(), 0);
  const auto l = log();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].protocol, "HTTP/2");
  EXPECT_EQ(l[0].code, 403u);
}

}  // namespace
}  // namespace membrane::proxy
