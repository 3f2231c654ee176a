// SPDX-License-Identifier: Apache-2.0
#include "proxy/http_proxy.h"

#include <netinet/in.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>

#include "proxy/proxy_internal.h"

namespace membrane::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

FileStamp stampOf(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return {};
  return {.exists = true,
          .ino = st.st_ino,
          .size = st.st_size,
          .mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec};
}

void HttpProxy::Impl::logError(const std::string& msg) const {
  std::cerr << "membrane-proxy: " << msg << "\n";
}

namespace {

asio::awaitable<void> acceptLoop(HttpProxy::Impl& impl) {
  for (;;) {
    boost::system::error_code ec;
    // Each connection gets its own strand: sessions run in parallel on cfg.threads threads.
    tcp::socket sock(asio::make_strand(impl.ioc));
    co_await impl.acceptor->async_accept(sock, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !impl.acceptor->is_open()) co_return;
    if (ec) {
      impl.logError("accept: " + ec.message());
      continue;
    }
    if (impl.active.load() >= impl.cfg.max_connections) {
      ++*impl.refused;
      sock.close(ec);  // overloaded: refuse rather than queue (the client sees a reset/EOF)
      continue;
    }
    ++impl.active;
    auto ex = sock.get_executor();
    asio::co_spawn(ex, runSession(impl, std::move(sock)), asio::detached);
  }
}

// Polls the rules file: the agent replaces it by rename, so a changed inode, size or mtime
// means new rules. A file that does not parse keeps the last good table (logged).
asio::awaitable<void> reloadLoop(HttpProxy::Impl& impl) {
  asio::steady_timer timer(impl.ioc);
  for (;;) {
    timer.expires_after(impl.cfg.reload_interval);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    const FileStamp now = stampOf(impl.cfg.rules_file);
    if (now == impl.stamp) continue;
    impl.stamp = now;
    if (!now.exists) {
      // The agent removed the rules: nothing is allowed any more (fail closed).
      std::lock_guard<std::mutex> l(impl.mu);
      impl.rules = std::make_shared<RuleTable>();
      ++*impl.reloads;
      continue;
    }
    auto t = loadRuleTable(impl.cfg.rules_file);
    if (!t) {
      impl.logError("keeping the previous rules: " + t.error().str());
      continue;
    }
    std::lock_guard<std::mutex> l(impl.mu);
    impl.rules = *t;
    ++*impl.reloads;
  }
}

model::Diagnostic sysError(const std::string& what, const boost::system::error_code& ec) {
  return model::Diagnostic{.message = what + ": " + ec.message()};
}

}  // namespace

HttpProxy::HttpProxy(ProxyConfig cfg, DestinationFn dest, AccessLogFn log)
    : impl_(std::make_unique<Impl>()) {
  impl_->cfg = std::move(cfg);
  impl_->dest = std::move(dest);
  impl_->log = std::move(log);
  impl_->reloads = &reloads_;
  impl_->refused = &refused_;
}

HttpProxy::~HttpProxy() { stop(); }

model::Result<uint16_t> HttpProxy::start() {
  Impl& im = *impl_;
  if (!im.cfg.rules_file.empty()) {
    im.stamp = stampOf(im.cfg.rules_file);
    if (im.stamp.exists) {
      auto t = loadRuleTable(im.cfg.rules_file);
      if (!t) return t.error();
      im.rules = *t;
    }
  }
  boost::system::error_code ec;
  auto addr = asio::ip::make_address_v4(im.cfg.listen_address, ec);
  if (ec)
    return model::Diagnostic{.message = "\"" + im.cfg.listen_address +
                                        "\" is not an IPv4 address to listen on"};
  im.acceptor.emplace(im.ioc);
  tcp::acceptor& a = *im.acceptor;
  if (a.open(tcp::v4(), ec); ec) return sysError("socket", ec);
  if (a.set_option(tcp::acceptor::reuse_address(true), ec); ec) return sysError("SO_REUSEADDR", ec);
  if (im.cfg.transparent) {
    const int one = 1;
    if (::setsockopt(a.native_handle(), SOL_IP, IP_TRANSPARENT, &one, sizeof one) != 0) {
      return model::Diagnostic{.message = "IP_TRANSPARENT on the listener (needs CAP_NET_ADMIN): " +
                                          std::string(strerror(errno))};
    }
  }
  if (a.bind({addr, im.cfg.port}, ec); ec) {
    return sysError("bind " + im.cfg.listen_address + ":" + std::to_string(im.cfg.port), ec);
  }
  if (a.listen(asio::socket_base::max_listen_connections, ec); ec) return sysError("listen", ec);
  const uint16_t port = a.local_endpoint().port();
  asio::co_spawn(im.ioc, acceptLoop(im), asio::detached);
  if (!im.cfg.rules_file.empty()) asio::co_spawn(im.ioc, reloadLoop(im), asio::detached);
  for (int i = 0; i < std::max(1, im.cfg.threads); ++i) {
    im.threads.emplace_back([&im] { im.ioc.run(); });
  }
  return port;
}

void HttpProxy::stop() {
  if (!impl_) return;
  impl_->ioc.stop();
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->threads.clear();
}

void HttpProxy::setRules(std::shared_ptr<const RuleTable> rules) {
  std::lock_guard<std::mutex> l(impl_->mu);
  impl_->rules = std::move(rules);
}

std::shared_ptr<const RuleTable> HttpProxy::rules() const { return impl_->snapshot(); }

}  // namespace membrane::proxy
