// SPDX-License-Identifier: Apache-2.0
// membrane's per-node HTTP proxy (Boost.Asio/Beast, C++20 coroutines; HTTP/2 and gRPC with nghttp2
// in h2_session.cc). The datapath marks L7-redirected packets and the node's TPROXY rule hands them
// to a transparent listener here, so an accepted socket's local address is the original
// destination. Each request is matched against the L7 rules of the connection (model/l7.h via
// RuleTable): a match is forwarded to the original destination (keep-alive, bodies streamed in
// chunks), no match gets 403 naming the policy. Malformed requests get 400, oversized headers 431,
// a client that does not finish its header within the header timeout is disconnected. Every
// connection is its own coroutine on a strand, so none of this stalls other connections.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model/diagnostics.h"
#include "proxy/rules.h"

namespace membrane::proxy {

struct ProxyConfig {
  std::string listen_address = "0.0.0.0";
  uint16_t port = 15001;  // 0: any free port (tests)
  // IP_TRANSPARENT on the listener: accept connections TPROXY redirects (needs CAP_NET_ADMIN).
  bool transparent = true;
  // Upstream connections bound to the client's address (IP_TRANSPARENT), so the destination's
  // ingress policy sees the client pod, not the node. Needs the node's socket-mark rule.
  bool upstream_original_source = false;
  std::string rules_file;  // re-read when it changes (checked every reload_interval)
  std::chrono::milliseconds reload_interval{200};
  std::chrono::milliseconds header_timeout{10000};  // whole request header must arrive in it
  std::chrono::milliseconds idle_timeout{60000};    // any other read or write
  uint32_t header_limit = 16 * 1024;                // bytes of request header; more: 431
  int threads = 1;
  // Connections served at once; more are closed at accept (overload fails closed, and the
  // connections already accepted keep their share of the proxy).
  uint32_t max_connections = 4096;
};

// One request the proxy decided, for the access log and Hubble's L7 flow records.
struct AccessRecord {
  std::string source;       // "ip:port"
  std::string destination;  // original destination "ip:port"
  uint32_t source_identity = 0;
  uint32_t destination_identity = 0;
  std::string method;
  std::string url;  // "http://host/target"
  std::string protocol = "HTTP/1.1";
  unsigned code = 0;          // status sent to the client; 0: none (connection failed)
  std::string verdict;        // "FORWARDED", "DENIED" (403 by policy), "ERROR"
  std::string rule;           // matching rule origin, or the reason it was denied
  uint64_t latency_ns = 0;    // request header read -> response header from upstream
  uint64_t time_unix_ns = 0;  // when the request header was complete
};

using AccessLogFn = std::function<void(const AccessRecord&)>;
// The original destination of an accepted connection. Default: its local address (TPROXY).
// Tests on loopback without TPROXY give a fixed upstream instead.
using DestinationFn =
    std::function<boost::asio::ip::tcp::endpoint(const boost::asio::ip::tcp::socket&)>;

class HttpProxy {
 public:
  explicit HttpProxy(ProxyConfig cfg, DestinationFn dest = {}, AccessLogFn log = {});
  ~HttpProxy();
  HttpProxy(const HttpProxy&) = delete;
  HttpProxy& operator=(const HttpProxy&) = delete;

  // Loads the rules (a missing file = no rules: everything denied), binds and listens, then
  // serves on cfg.threads threads. Returns the bound port. Errors: unusable rules file,
  // socket options, bind.
  model::Result<uint16_t> start();
  void stop();
  void setRules(std::shared_ptr<const RuleTable> rules);
  std::shared_ptr<const RuleTable> rules() const;
  uint64_t reloads() const { return reloads_.load(); }
  uint64_t refused() const { return refused_.load(); }  // connections closed at the cap

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace membrane::proxy
