// SPDX-License-Identifier: Apache-2.0
// proxy_bench: HTTP/1.1 request rate and latency percentiles through membrane-proxy against
// the same server reached directly, measured in the same run, at 1 and 100 concurrent
// keep-alive connections on loopback. The upstream answers every GET with a fixed 200 (13
// bytes of body); the proxy matches each request against one L7 rule (GET /bench/.*).
// Upstream, proxy and clients each get one thread (the machine has 2 cores, shared).
// MEMBRANE_BENCH_QUICK=1 measures 1 s per case instead of 3 s.
#include <utility>  // first: Boost 1.74's asio/awaitable.hpp uses std::exchange without it
// (a blank line keeps clang-format from moving it)

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "proxy/http_proxy.h"
#include "proxy/rules.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

asio::awaitable<void> serveUpstream(tcp::socket s) {
  beast::flat_buffer buf;
  boost::system::error_code ec;
  for (;;) {
    http::request<http::empty_body> req;
    co_await http::async_read(s, buf, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    http::response<http::string_body> res{http::status::ok, 11};
    res.body() = "hello, bench\n";
    res.keep_alive(true);
    res.prepare_payload();
    co_await http::async_write(s, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

asio::awaitable<void> acceptUpstream(tcp::acceptor& a) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket s = co_await a.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    asio::co_spawn(a.get_executor(), serveUpstream(std::move(s)), asio::detached);
  }
}

struct ClientStats {
  std::vector<double> latencies_us;
  uint64_t errors = 0;
};

asio::awaitable<void> client(tcp::endpoint to, Clock::time_point end, ClientStats& st) {
  boost::system::error_code ec;
  tcp::socket s(co_await asio::this_coro::executor);
  co_await s.async_connect(to, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    ++st.errors;
    co_return;
  }
  beast::flat_buffer buf;
  http::request<http::empty_body> req{http::verb::get, "/bench/item", 11};
  req.set(http::field::host, "bench");
  while (Clock::now() < end) {
    const auto t0 = Clock::now();
    co_await http::async_write(s, req, asio::redirect_error(asio::use_awaitable, ec));
    http::response<http::string_body> res;
    if (!ec) co_await http::async_read(s, buf, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || res.result_int() != 200) {
      ++st.errors;
      co_return;
    }
    st.latencies_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
}

struct Result {
  double rate = 0, p50 = 0, p99 = 0;
  uint64_t errors = 0;
};

Result run(tcp::endpoint to, int conns, double secs) {
  asio::io_context ioc;
  ClientStats st;
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs));
  for (int i = 0; i < conns; ++i) asio::co_spawn(ioc, client(to, end, st), asio::detached);
  ioc.run();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  Result r{.errors = st.errors};
  auto& l = st.latencies_us;
  if (l.empty()) return r;
  std::sort(l.begin(), l.end());
  r.rate = static_cast<double>(l.size()) / elapsed;
  r.p50 = l[l.size() / 2];
  r.p99 = l[std::min(l.size() - 1, l.size() * 99 / 100)];
  return r;
}

}  // namespace

int main() {
  const double secs = std::getenv("MEMBRANE_BENCH_QUICK") ? 1.0 : 3.0;
  asio::io_context up_ioc;
  tcp::acceptor acceptor(up_ioc, {asio::ip::make_address("127.0.0.1"), 0});
  const tcp::endpoint upstream = acceptor.local_endpoint();
  asio::co_spawn(up_ioc, acceptUpstream(acceptor), asio::detached);
  std::thread up_thread([&] { up_ioc.run(); });

  const std::string rules =
      R"({"version": 1, "ipcache": [{"cidr": "127.0.0.1/32", "identity": 5000}],
    "entries": [{"endpoint": "127.0.0.1", "direction": "egress", "port": )" +
      std::to_string(upstream.port()) + R"(, "http": [{"method": "GET", "path": "/bench/.*"}]}]})";
  auto table = membrane::proxy::parseRuleTable(rules, "bench");
  if (!table) {
    std::fprintf(stderr, "rules: %s\n", table.error().str().c_str());
    return 1;
  }
  membrane::proxy::HttpProxy proxy(
      {.listen_address = "127.0.0.1", .port = 0, .transparent = false, .threads = 1},
      [upstream](const tcp::socket&) { return upstream; });
  auto port = proxy.start();
  if (!port) {
    std::fprintf(stderr, "proxy: %s\n", port.error().str().c_str());
    return 1;
  }
  proxy.setRules(*table);
  const tcp::endpoint via_proxy(asio::ip::make_address("127.0.0.1"), *port);

  std::printf("%-6s %-7s %12s %10s %10s %7s\n", "conns", "path", "requests/s", "p50 us", "p99 us",
              "errors");
  for (int conns : {1, 100}) {
    const Result d = run(upstream, conns, secs);
    const Result p = run(via_proxy, conns, secs);
    std::printf("%-6d %-7s %12.0f %10.1f %10.1f %7lu\n", conns, "direct", d.rate, d.p50, d.p99,
                static_cast<unsigned long>(d.errors));
    std::printf("%-6d %-7s %12.0f %10.1f %10.1f %7lu\n", conns, "proxy", p.rate, p.p50, p.p99,
                static_cast<unsigned long>(p.errors));
    std::printf("%-6d %-7s %11.2fx %9.2fx %9.2fx\n", conns, "ratio", p.rate / d.rate, p.p50 / d.p50,
                p.p99 / d.p99);
  }
  proxy.stop();
  up_ioc.stop();
  up_thread.join();
  return 0;
}
