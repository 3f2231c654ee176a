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
#include <optional>

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

}  // namespace membrane::proxy
