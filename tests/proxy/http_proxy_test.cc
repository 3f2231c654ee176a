// SPDX-License-Identifier: Apache-2.0
// The HTTP proxy with real sockets on loopback: a real upstream server (Beast, one thread per
// connection), the proxy in-process with a fixed original destination (no TPROXY here), and
// clients writing raw bytes, so malformed and slow requests are real.
#include "proxy/http_proxy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <fstream>
#include <thread>

namespace membrane::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Answers every request with 200 and "upstream saw <method> <target> <body bytes>".
class Upstream {
 public:
  Upstream() : acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { acceptLoop(); });
  }
  ~Upstream() {
    // A blocking accept() does not return when another thread closes the socket: wake it
    // with one last connection.
    stopping_ = true;
    boost::system::error_code ec;
    tcp::socket wake(ioc_);
    wake.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
    acceptor_.close(ec);
    for (auto& t : conns_) t.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int connections() const { return connections_.load(); }
  std::vector<std::string> seen() const {
    std::lock_guard<std::mutex> l(mu_);
    return seen_;
  }

 private:
  void acceptLoop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket s(ioc_);
      acceptor_.accept(s, ec);
      if (ec || stopping_) return;
      ++connections_;
      conns_.emplace_back([this, s = std::move(s)]() mutable { serve(std::move(s)); });
    }
  }
  void serve(tcp::socket s) {
    beast::flat_buffer buf;
    for (;;) {
      http::request_parser<http::string_body> p;
      p.body_limit(64 << 20);
      boost::system::error_code ec;
      http::read(s, buf, p, ec);
      if (ec) return;
      const auto& req = p.get();
      const std::string line = std::string(req.method_string()) + " " + std::string(req.target()) +
                               " " + std::to_string(req.body().size());
      {
        std::lock_guard<std::mutex> l(mu_);
        seen_.push_back(line);
      }
      http::response<http::string_body> res{http::status::ok, 11};
      res.body() = "upstream saw " + line;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(s, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }

  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::vector<std::thread> conns_;  // only the accept thread appends; joined after it ends
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<std::string> seen_;
};

std::string rulesJson(uint16_t port, const std::string& http_rules) {
  return R"({"version": 1, "ipcache": [{"cidr": "127.0.0.1/32", "identity": 4242}],
    "entries": [{"endpoint": "127.0.0.1", "direction": "egress", "port": )" +
         std::to_string(port) + R"(, "remote_identities": [4242], "http": )" + http_rules + "}]}";
}

void writeAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << text;
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

constexpr const char* kRules =
    R"([{"method": "GET", "path": "/public(/.*)?",
         "origin": "CiliumNetworkPolicy default/l7 spec.egress[0].toPorts[0].rules.http[0]"},
        {"method": "POST", "path": "/upload", "origin": "CiliumNetworkPolicy default/l7 up"},
        {"path": "/team", "headers": [{"name": "X-Team", "value": "blue"}],
         "origin": "CiliumNetworkPolicy default/teams spec.egress[0].toPorts[0].rules.http[0]"}])";

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/membrane-proxy-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    rules_file_ = dir_ + "/rules.json";
    writeAtomically(rules_file_, rulesJson(upstream_.port(), kRules));
    startProxy();
  }
  void TearDown() override {
    proxy_.reset();
    std::remove(rules_file_.c_str());
    ::rmdir(dir_.c_str());
  }
  void startProxy() {
    ProxyConfig cfg{.listen_address = "127.0.0.1",
                    .port = 0,
                    .transparent = false,
                    .rules_file = rules_file_,
                    .reload_interval = std::chrono::milliseconds(20),
                    .header_timeout = std::chrono::milliseconds(300),
                    .header_limit = 4096,
                    .threads = 2,
                    .max_connections = max_connections_};
    const tcp::endpoint up(asio::ip::make_address("127.0.0.1"), upstream_.port());
    proxy_ = std::make_unique<HttpProxy>(
        cfg, [up](const tcp::socket&) { return up; },
        [this](const AccessRecord& r) {
          std::lock_guard<std::mutex> l(mu_);
          log_.push_back(r);
        });
    auto port = proxy_->start();
    ASSERT_TRUE(port) << port.error().str();
    port_ = *port;
  }
  tcp::socket connect() {
    tcp::socket s(ioc_);
    s.connect({asio::ip::make_address("127.0.0.1"), port_});
    return s;
  }
  // Sends raw bytes and reads one response.
  http::response<http::string_body> exchange(tcp::socket& s, const std::string& raw) {
    asio::write(s, asio::buffer(raw));
    http::response<http::string_body> res;
    http::read(s, buf_, res);
    return res;
  }
  http::response<http::string_body> once(const std::string& raw) {
    tcp::socket s = connect();
    return exchange(s, raw);
  }
  std::vector<AccessRecord> log() {
    std::lock_guard<std::mutex> l(mu_);
    return log_;
  }

  Upstream upstream_;
  std::string dir_, rules_file_;
  std::unique_ptr<HttpProxy> proxy_;
  uint16_t port_ = 0;
  uint32_t max_connections_ = 4096;
  asio::io_context ioc_;
  beast::flat_buffer buf_;
  std::mutex mu_;
  std::vector<AccessRecord> log_;
};

TEST_F(ProxyTest, AllowedRequestIsForwardedToTheOriginalDestination) {
  auto res = once("GET /public/a HTTP/1.1\r\nHost: server\r\n\r\n");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "upstream saw GET /public/a 0");
  const auto l = log();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].verdict, "FORWARDED");
  EXPECT_EQ(l[0].code, 200u);
  EXPECT_EQ(l[0].url, "http://server/public/a");
  EXPECT_EQ(l[0].source_identity, 4242u);
  EXPECT_EQ(l[0].rule, "CiliumNetworkPolicy default/l7 spec.egress[0].toPorts[0].rules.http[0]");
}

TEST_F(ProxyTest, DeniedRequestGets403NamingThePolicyAndNeverReachesUpstream) {
  auto res = once("GET /private HTTP/1.1\r\nHost: server\r\n\r\n");
  EXPECT_EQ(res.result_int(), 403u);
  EXPECT_NE(res.body().find("GET /private matches no rule of CiliumNetworkPolicy default/l7, "
                            "CiliumNetworkPolicy default/teams"),
            std::string::npos)
      << res.body();
  EXPECT_TRUE(upstream_.seen().empty());
  const auto l = log();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].verdict, "DENIED");
  EXPECT_EQ(l[0].code, 403u);
}

TEST_F(ProxyTest, HeaderRuleNeedsTheHeaderValue) {
  EXPECT_EQ(once("GET /team HTTP/1.1\r\nHost: s\r\n\r\n").result_int(), 403u);
  EXPECT_EQ(once("GET /team HTTP/1.1\r\nHost: s\r\nX-Team: red\r\n\r\n").result_int(), 403u);
  EXPECT_EQ(once("GET /team HTTP/1.1\r\nHost: s\r\nx-team: blue\r\n\r\n").result_int(), 200u);
}

TEST_F(ProxyTest, KeepAliveServesManyRequestsOverOneUpstreamConnection) {
  tcp::socket s = connect();
  for (int i = 0; i < 3; ++i) {
    auto res = exchange(s, "GET /public HTTP/1.1\r\nHost: server\r\n\r\n");
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_TRUE(res.keep_alive());
  }
  // A denied request without a body keeps the connection; the next allowed one still works.
  EXPECT_EQ(exchange(s, "GET /private HTTP/1.1\r\nHost: server\r\n\r\n").result_int(), 403u);
  EXPECT_EQ(exchange(s, "GET /public HTTP/1.1\r\nHost: server\r\n\r\n").result_int(), 200u);
  EXPECT_EQ(upstream_.connections(), 1);
  EXPECT_EQ(upstream_.seen().size(), 4u);
}

TEST_F(ProxyTest, ChunkedBodyIsStreamedThrough) {
  tcp::socket s = connect();
  asio::write(s, asio::buffer(std::string("POST /upload HTTP/1.1\r\nHost: server\r\n"
                                          "Transfer-Encoding: chunked\r\n\r\n")));
  const std::string chunk(64 * 1024, 'x');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  for (int i = 0; i < 64; ++i) {  // 4 MiB in 64 chunks
    asio::write(s, asio::buffer(std::string(size_line) + chunk + "\r\n"));
  }
  asio::write(s, asio::buffer(std::string("0\r\n\r\n")));
  http::response<http::string_body> res;
  http::read(s, buf_, res);
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "upstream saw POST /upload " + std::to_string(64 * chunk.size()));
}

TEST_F(ProxyTest, DeniedRequestWithABodyStillGetsIts403) {
  // The body is refused unread; the 403 must reach the client anyway (no RST racing it).
  tcp::socket s = connect();
  const std::string body(256 * 1024, 'b');
  asio::write(s, asio::buffer("POST /private HTTP/1.1\r\nHost: s\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n"));
  boost::system::error_code ec;
  asio::write(s, asio::buffer(body), ec);  // may fail once the proxy half-closes; fine
  http::response<http::string_body> res;
  http::read(s, buf_, res, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 403u);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(upstream_.seen().empty());
}

TEST_F(ProxyTest, MalformedRequestGets400) {
  EXPECT_EQ(once("GET /public HTTP/1.1\r\nBad Header\r\n\r\n").result_int(), 400u);
  EXPECT_EQ(once("GET /public HTTP/9.9\r\n\r\n").result_int(), 400u);
  EXPECT_TRUE(upstream_.seen().empty());
}

TEST_F(ProxyTest, OversizedHeaderGets431) {
  auto res =
      once("GET /public HTTP/1.1\r\nHost: s\r\nX-Big: " + std::string(8192, 'a') + "\r\n\r\n");
  EXPECT_EQ(res.result_int(), 431u);
  EXPECT_TRUE(upstream_.seen().empty());
}

TEST_F(ProxyTest, SlowHeaderIsCutOffWithoutStallingOthers) {
  tcp::socket slow = connect();
  asio::write(slow, asio::buffer(std::string("GET /public HTTP/1.1\r\nHost: s")));
  // While the slow client holds its connection, others are served.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(once("GET /public HTTP/1.1\r\nHost: s\r\n\r\n").result_int(), 200u);
  }
  // The header never completes: the proxy closes the connection (a read returns EOF).
  char c;
  boost::system::error_code ec;
  asio::read(slow, asio::buffer(&c, 1), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_EQ(upstream_.seen().size(), 3u);
}

TEST_F(ProxyTest, RulesAreReloadedWhenTheFileChanges) {
  EXPECT_EQ(once("GET /private HTTP/1.1\r\nHost: s\r\n\r\n").result_int(), 403u);
  const uint64_t before = proxy_->reloads();
  writeAtomically(rules_file_, rulesJson(upstream_.port(), R"([{"path": "/private"}])"));
  while (proxy_->reloads() == before) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(once("GET /private HTTP/1.1\r\nHost: s\r\n\r\n").result_int(), 200u);
  EXPECT_EQ(once("GET /public HTTP/1.1\r\nHost: s\r\n\r\n").result_int(), 403u);
  // A broken file keeps the last good rules.
  const uint64_t good = proxy_->reloads();
  writeAtomically(rules_file_, "{\"version\": 1, \"entries\": [{]}");
  writeAtomically(rules_file_ + ".probe", "x");  // lets a reload interval pass
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::remove((rules_file_ + ".probe").c_str());
  EXPECT_EQ(proxy_->reloads(), good);
  EXPECT_EQ(once("GET /private HTTP/1.1\r\nHost: s\r\n\r\n").result_int(), 200u);
}

TEST_F(ProxyTest, ARestartedProxyHasItsRulesBeforeTheFirstConnection) {
  proxy_.reset();
  startProxy();
  EXPECT_EQ(once("GET /public HTTP/1.1\r\nHost: s\r\n\r\n").result_int(), 200u);
  EXPECT_EQ(once("GET /private HTTP/1.1\r\nHost: s\r\n\r\n").result_int(), 403u);
}

TEST_F(ProxyTest, NoRulesForTheConnectionFailsClosed) {
  writeAtomically(rules_file_, R"({"version": 1, "entries": []})");
  proxy_.reset();
  startProxy();
  auto res = once("GET /public HTTP/1.1\r\nHost: s\r\n\r\n");
  EXPECT_EQ(res.result_int(), 403u);
  EXPECT_NE(res.body().find("none (fail closed)"), std::string::npos) << res.body();
  EXPECT_TRUE(upstream_.seen().empty());
}

TEST_F(ProxyTest, OverloadRefusesNewConnectionsAndKeepsServingAcceptedOnes) {
  max_connections_ = 2;
  proxy_.reset();
  startProxy();
  tcp::socket a = connect();
  tcp::socket b = connect();
  EXPECT_EQ(exchange(a, "GET /public HTTP/1.1\r\nHost: s\r\n\r\n").result_int(), 200u);
  EXPECT_EQ(exchange(b, "GET /public HTTP/1.1\r\nHost: s\r\n\r\n").result_int(), 200u);
  // A third connection is closed at accept: the read sees EOF or a reset, never a response.
  tcp::socket c = connect();
  boost::system::error_code ec;
  asio::write(c, asio::buffer(std::string("GET /public HTTP/1.1\r\nHost: s\r\n\r\n")), ec);
  char byte;
  asio::read(c, asio::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  EXPECT_EQ(proxy_->refused(), 1u);
  // The accepted ones still work; once one closes, a new connection is served.
  EXPECT_EQ(exchange(a, "GET /public HTTP/1.1\r\nHost: s\r\n\r\n").result_int(), 200u);
  b.close();
  bool served = false;
  for (int i = 0; i < 200 && !served; ++i) {  // until the proxy has seen b's close
    tcp::socket d = connect();
    asio::write(d, asio::buffer(std::string("GET /public HTTP/1.1\r\nHost: s\r\n\r\n")), ec);
    http::response<http::string_body> res;
    beast::flat_buffer buf;
    http::read(d, buf, res, ec);
    served = !ec && res.result_int() == 200u;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(served);
}

}  // namespace
}  // namespace membrane::proxy
