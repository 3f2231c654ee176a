// SPDX-License-Identifier: Apache-2.0
// Internal to proxy/: the state the accept loop, the reload loop and the sessions share.
#pragma once

#include <sys/stat.h>

// clang-format off
#include <utility>  // first: Boost 1.74's asio/awaitable.hpp uses std::exchange without it
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/http_proxy.h"

namespace membrane::proxy {

struct FileStamp {
  bool exists = false;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
FileStamp stampOf(const std::string& path);

struct HttpProxy::Impl {
  ProxyConfig cfg;
  DestinationFn dest;
  AccessLogFn log;
  std::atomic<uint64_t>* reloads = nullptr;
  std::atomic<uint64_t>* refused = nullptr;
  std::atomic<uint32_t> active{0};  // sessions running
  boost::asio::io_context ioc;
  std::optional<boost::asio::ip::tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  mutable std::mutex mu;  // guards rules (the pointer; tables are immutable)
  std::shared_ptr<const RuleTable> rules = std::make_shared<RuleTable>();
  FileStamp stamp;

  std::shared_ptr<const RuleTable> snapshot() const {
    std::lock_guard<std::mutex> l(mu);
    return rules;
  }
  void logError(const std::string& msg) const;
};

// One client connection, until it closes (proxy/session.cc).
boost::asio::awaitable<void> runSession(HttpProxy::Impl& impl, boost::asio::ip::tcp::socket socket);

// HTTP/2's client connection preface (RFC 9113 3.4).
inline constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// A client connection that started with the HTTP/2 preface (`preread`, already read), until
// it closes (proxy/h2_session.cc).
boost::asio::awaitable<void> runH2Session(HttpProxy::Impl& impl, boost::beast::tcp_stream client,
                                          boost::asio::ip::tcp::endpoint src,
                                          boost::asio::ip::tcp::endpoint dst, std::string preread);

// The proxy's decision for one request (proxy/session.cc), shared by HTTP/1.1 and HTTP/2.
struct Decision {
  bool allowed = false;
  std::string rule;    // origin of the matching rule(s) or why nothing matched
  std::string policy;  // for the 403 body: the policies whose rules did not match
  uint32_t src_identity = 0;
  uint32_t dst_identity = 0;
};
// Applies the egress rules of the source pod and the ingress rules of the destination pod,
// whichever exist for this port; both must allow; with neither, nothing allows (fail closed).
Decision decideRequest(const RuleTable& t, const boost::asio::ip::tcp::endpoint& src,
                       const boost::asio::ip::tcp::endpoint& dst, const model::HttpRequest& req);
std::string endpointStr(const boost::asio::ip::tcp::endpoint& e);
uint64_t nowUnixNs();
// Connects `out` to the original destination, from the client's address when
// cfg.upstream_original_source (IP_TRANSPARENT), with the idle timeout.
boost::asio::awaitable<boost::system::error_code> connectOriginal(
    HttpProxy::Impl& impl, boost::beast::tcp_stream& out, const boost::asio::ip::tcp::endpoint& src,
    const boost::asio::ip::tcp::endpoint& dst);

}  // namespace membrane::proxy
