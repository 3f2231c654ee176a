// SPDX-License-Identifier: Apache-2.0
// One client connection of the HTTP proxy: read a request header (bounded in size and time),
// decide it against the L7 rules, then forward it with its body streamed to the original
// destination and stream the response back, or answer 400/403/431/502 locally.
#include <netinet/in.h>

// clang-format off
#include <utility>  // first: Boost 1.74's asio/awaitable.hpp uses std::exchange without it
// clang-format on

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <limits>
#include <set>

#include "proxy/proxy_internal.h"

namespace membrane::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

std::string endpointStr(const tcp::endpoint& e) {
  return e.address().to_string() + ":" + std::to_string(e.port());
}

namespace {

// "CiliumNetworkPolicy ns/name spec.egress[0]..." -> "CiliumNetworkPolicy ns/name".
std::string policyOf(const std::string& origin) {
  const size_t a = origin.find(' ');
  const size_t b = a == std::string::npos ? a : origin.find(' ', a + 1);
  return b == std::string::npos ? origin : origin.substr(0, b);
}

}  // namespace

// Applies the egress rules of the source pod and the ingress rules of the destination pod,
// whichever exist for this port; both must allow. With neither, nothing allows it: the
// datapath should not have redirected it, and the proxy fails closed.
Decision decideRequest(const RuleTable& t, const tcp::endpoint& src, const tcp::endpoint& dst,
                       const model::HttpRequest& req) {
  const model::Ipv4 sip = src.address().to_v4().to_uint();
  const model::Ipv4 dip = dst.address().to_v4().to_uint();
  Decision d{.src_identity = t.identityOf(sip), .dst_identity = t.identityOf(dip)};
  struct Side {
    model::Ipv4 ep;
    L7Direction dir;
    uint32_t remote;
  };
  const Side sides[] = {{sip, L7Direction::Egress, d.dst_identity},
                        {dip, L7Direction::Ingress, d.src_identity}};
  bool any = false;
  std::set<std::string> policies;
  for (const Side& s : sides) {
    model::HttpPolicy p;
    if (!t.lookup(s.ep, s.dir, s.remote, dst.port(), &p)) continue;
    any = true;
    const model::HttpMatch m = model::matchHttp(p, req);
    if (!m.allowed) {
      for (const auto& r : p.rules) policies.insert(policyOf(r.origin));
      d.rule =
          std::string(s.dir == L7Direction::Egress ? "egress" : "ingress") + ": no L7 rule matched";
      d.policy.clear();
      for (const auto& pol : policies) d.policy += (d.policy.empty() ? "" : ", ") + pol;
      return d;
    }
    if (!d.rule.empty()) d.rule += "; ";
    d.rule += m.rule ? m.rule->origin : "wildcard (an L3/L4 rule allows the port)";
  }
  if (!any) {
    d.rule = "no L7 rules for this connection on this node";
    d.policy = "none (fail closed)";
    return d;
  }
  d.allowed = true;
  return d;
}

asio::awaitable<error_code> connectOriginal(HttpProxy::Impl& impl, beast::tcp_stream& out,
                                            const tcp::endpoint& src, const tcp::endpoint& dst) {
  error_code ec;
  tcp::socket& s = out.socket();
  s.open(tcp::v4(), ec);
  if (ec) co_return ec;
  if (impl.cfg.upstream_original_source) {
    // Keep the client's address so the destination's policy sees the client's identity.
    const int one = 1;
    if (::setsockopt(s.native_handle(), SOL_IP, IP_TRANSPARENT, &one, sizeof one) != 0) {
      co_return error_code(errno, boost::system::system_category());
    }
    s.bind(tcp::endpoint(src.address(), 0), ec);
    if (ec) co_return ec;
  }
  out.expires_after(impl.cfg.idle_timeout);
  co_await out.async_connect(dst, asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

uint64_t nowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

constexpr auto kUseAwaitable = asio::use_awaitable;
// Bodies are streamed, never held whole, so they need no limit. Not boost::none: Beast 1.74
// compares `len > body_limit_` against an empty optional, which is always true.
constexpr uint64_t kNoBodyLimit = std::numeric_limits<uint64_t>::max();
constexpr size_t kDrainBytes = 4 << 20;                // of a refused request body
constexpr std::chrono::milliseconds kDrainTime{1000};  // for the client to take the response

// Streams the rest of the message `p` (header already read from `in`) to `out` in chunks,
// as Beast's relay example does: the body never sits in memory whole.
template <bool isRequest>
asio::awaitable<error_code> relay(beast::tcp_stream& out, beast::tcp_stream& in,
                                  beast::flat_buffer& buf,
                                  http::parser<isRequest, http::buffer_body>& p,
                                  std::chrono::milliseconds idle) {
  char chunk[16384];
  http::serializer<isRequest, http::buffer_body> sr{p.get()};
  error_code ec;
  do {
    if (!p.is_done()) {
      p.get().body().data = chunk;
      p.get().body().size = sizeof chunk;
      in.expires_after(idle);
      co_await http::async_read(in, buf, p, asio::redirect_error(kUseAwaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return ec;
      p.get().body().size = sizeof chunk - p.get().body().size;
      p.get().body().data = chunk;
      p.get().body().more = !p.is_done();
    } else {
      p.get().body().data = nullptr;
      p.get().body().size = 0;
      p.get().body().more = false;  // else the serializer waits for body and sends nothing
    }
    out.expires_after(idle);
    co_await http::async_write(out, sr, asio::redirect_error(kUseAwaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return ec;
  } while (!p.is_done() && !sr.is_done());
  co_return ec;
}

class Session {
 public:
  Session(HttpProxy::Impl& impl, tcp::socket s) : impl_(impl), client_(std::move(s)) {}
  asio::awaitable<void> run();

 private:
  // Sends a local response; returns whether the connection may serve another request.
  asio::awaitable<bool> respond(http::status status, const std::string& body, bool keep_alive);
  asio::awaitable<error_code> connectUpstream();
  asio::awaitable<bool> forward(http::request_parser<http::buffer_body>& req, AccessRecord& rec);
  void record(AccessRecord& rec, const model::HttpRequest& r);
  bool readHeaderError(const error_code& ec, bool* reply_status, http::status* status);

  HttpProxy::Impl& impl_;
  beast::tcp_stream client_;
  beast::flat_buffer cbuf_;
  std::optional<beast::tcp_stream> upstream_;
  beast::flat_buffer ubuf_;
  tcp::endpoint src_, dst_;
};

asio::awaitable<bool> Session::respond(http::status status, const std::string& body,
                                       bool keep_alive) {
  http::response<http::string_body> res{status, 11};
  res.set(http::field::server, "membrane-proxy");
  res.set(http::field::content_type, "text/plain");
  res.keep_alive(keep_alive);
  res.body() = body;
  res.prepare_payload();
  error_code ec;
  client_.expires_after(impl_.cfg.idle_timeout);
  co_await http::async_write(client_, res, asio::redirect_error(kUseAwaitable, ec));
  if (!ec && !keep_alive) {
    // Half-close, then drain what the client still sends (a request body we refused) until
    // it closes, for at most kDrainBytes / kDrainTime: closing with unread bytes would send a
    // RST, which can make the client's stack discard the response before it is read.
    client_.socket().shutdown(tcp::socket::shutdown_send, ec);
    char sink[16384];
    size_t drained = 0;
    client_.expires_after(kDrainTime);
    while (!ec && drained < kDrainBytes) {
      drained += co_await client_.async_read_some(asio::buffer(sink),
                                                  asio::redirect_error(kUseAwaitable, ec));
    }
    co_return false;
  }
  co_return !ec && keep_alive;
}

asio::awaitable<error_code> Session::connectUpstream() {
  upstream_.emplace(client_.get_executor());
  const error_code ec = co_await connectOriginal(impl_, *upstream_, src_, dst_);
  if (ec) upstream_.reset();
  co_return ec;
}

void Session::record(AccessRecord& rec, const model::HttpRequest& r) {
  rec.source = endpointStr(src_);
  rec.destination = endpointStr(dst_);
  rec.method = r.method;
  rec.url = "http://" + (r.host.empty() ? endpointStr(dst_) : r.host) + r.target;
}

// Returns whether the client connection can serve another request.
asio::awaitable<bool> Session::forward(http::request_parser<http::buffer_body>& req,
                                       AccessRecord& rec) {
  const auto start = std::chrono::steady_clock::now();
  if (!upstream_) {
    if (error_code ec = co_await connectUpstream()) {
      rec.verdict = "ERROR";
      rec.code = 502;
      rec.rule += " (upstream " + endpointStr(dst_) + ": " + ec.message() + ")";
      if (impl_.log) impl_.log(rec);
      co_return co_await respond(http::status::bad_gateway,
                                 "upstream " + endpointStr(dst_) + ": " + ec.message() + "\n",
                                 false);
    }
  }
  const bool head = req.get().method() == http::verb::head;
  const bool client_keep_alive = req.get().keep_alive();
  error_code ec = co_await relay<true>(*upstream_, client_, cbuf_, req, impl_.cfg.idle_timeout);
  if (ec) {
    upstream_.reset();
    rec.verdict = "ERROR";
    rec.rule += " (relaying the request: " + ec.message() + ")";
    if (impl_.log) impl_.log(rec);
    co_return false;
  }
  for (;;) {
    http::response_parser<http::buffer_body> res;
    res.body_limit(kNoBodyLimit);
    if (head) res.skip(true);
    upstream_->expires_after(impl_.cfg.idle_timeout);
    co_await http::async_read_header(*upstream_, ubuf_, res,
                                     asio::redirect_error(kUseAwaitable, ec));
    if (ec) {
      upstream_.reset();
      rec.verdict = "ERROR";
      rec.code = 502;
      if (impl_.log) impl_.log(rec);
      co_return co_await respond(http::status::bad_gateway,
                                 "upstream response: " + ec.message() + "\n", false);
    }
    const unsigned code = res.get().result_int();
    rec.code = code;
    rec.latency_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::steady_clock::now() - start)
                         .count();
    const bool upstream_keep_alive = res.get().keep_alive();
    // Logged before the response goes out, so whoever sees the response finds the record.
    if (impl_.log && code / 100 != 1) impl_.log(rec);
    ec = co_await relay<false>(client_, *upstream_, ubuf_, res, impl_.cfg.idle_timeout);
    if (ec) {
      upstream_.reset();
      co_return false;
    }
    if (code / 100 == 1 && code != 101) continue;  // 100 Continue: the final response follows
    if (!upstream_keep_alive) upstream_.reset();
    co_return client_keep_alive&& code != 101;
  }
}

// Classifies a failed header read: which local status (if any) the client gets.
bool Session::readHeaderError(const error_code& ec, bool* reply_status, http::status* status) {
  *reply_status = false;
  if (ec == http::error::header_limit) {
    *reply_status = true;
    *status = http::status::request_header_fields_too_large;
  } else if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
             ec != http::error::end_of_stream && ec != http::error::partial_message) {
    *reply_status = true;
    *status = http::status::bad_request;
  }
  return *reply_status;
}

asio::awaitable<void> Session::run() {
  error_code ec;
  src_ = client_.socket().remote_endpoint(ec);
  if (ec) co_return;
  dst_ = impl_.dest ? impl_.dest(client_.socket()) : client_.socket().local_endpoint(ec);
  if (ec || !src_.address().is_v4() || !dst_.address().is_v4()) co_return;
  // HTTP/2 with prior knowledge (h2c, what gRPC clients send) starts with its connection
  // preface; anything else is HTTP/1.x. Reading stops at the first byte that differs.
  client_.expires_after(impl_.cfg.header_timeout);
  while (cbuf_.size() < kH2Preface.size()) {
    const std::string_view got(static_cast<const char*>(cbuf_.data().data()), cbuf_.size());
    if (kH2Preface.substr(0, got.size()) != got) break;
    const size_t n = co_await client_.async_read_some(cbuf_.prepare(kH2Preface.size() - got.size()),
                                                      asio::redirect_error(kUseAwaitable, ec));
    if (ec) co_return;
    cbuf_.commit(n);
  }
  const std::string head(static_cast<const char*>(cbuf_.data().data()), cbuf_.size());
  if (head == kH2Preface) {
    client_.expires_never();
    co_await runH2Session(impl_, std::move(client_), src_, dst_, head);
    co_return;
  }
  for (;;) {
    http::request_parser<http::buffer_body> req;
    req.header_limit(impl_.cfg.header_limit);
    req.body_limit(kNoBodyLimit);
    // The whole header must arrive within header_timeout (slowloris); the timer is not reset
    // by each byte.
    client_.expires_after(impl_.cfg.header_timeout);
    co_await http::async_read_header(client_, cbuf_, req, asio::redirect_error(kUseAwaitable, ec));
    AccessRecord rec{.time_unix_ns = nowUnixNs()};
    if (ec) {
      bool reply = false;
      http::status status{};
      if (readHeaderError(ec, &reply, &status)) {
        rec.source = endpointStr(src_);
        rec.destination = endpointStr(dst_);
        rec.verdict = "ERROR";
        rec.code = static_cast<unsigned>(status);
        rec.rule = ec.message();
        if (impl_.log) impl_.log(rec);
        co_await respond(status, ec.message() + "\n", false);
      }
      co_return;
    }
    const auto& h = req.get();
    model::HttpRequest r{.method = std::string(h.method_string()),
                         .target = std::string(h.target()),
                         .host = std::string(h[http::field::host])};
    for (const auto& f : h) r.headers.emplace_back(f.name_string(), f.value());
    record(rec, r);
    const Decision d = decideRequest(*impl_.snapshot(), src_, dst_, r);
    rec.source_identity = d.src_identity;
    rec.destination_identity = d.dst_identity;
    rec.rule = d.rule;
    bool more = false;
    if (!d.allowed) {
      rec.verdict = "DENIED";
      rec.code = 403;
      if (impl_.log) impl_.log(rec);
      // Keep-alive only when no request body is pending: it would be read as the next request.
      const bool keep = req.is_done() && h.keep_alive();
      more = co_await respond(http::status::forbidden,
                              "Access denied by membrane L7 policy: " + r.method + " " + r.target +
                                  " matches no rule of " + d.policy + "\n",
                              keep);
    } else {
      rec.verdict = "FORWARDED";
      more = co_await forward(req, rec);  // logs the record itself
    }
    if (!more) co_return;
  }
}

}  // namespace

asio::awaitable<void> runSession(HttpProxy::Impl& impl, tcp::socket socket) {
  {
    Session s(impl, std::move(socket));
    try {
      co_await s.run();
    } catch (const std::exception& e) {
      impl.logError(std::string("session: ") + e.what());
    }
  }  // the sockets are closed before the slot is given back
  --impl.active;
}

}  // namespace membrane::proxy
