// SPDX-License-Identifier: Apache-2.0
// One HTTP/2 client connection of the proxy (h2c with prior knowledge, as gRPC clients speak
// it), with nghttp2: a server session towards the client, a client session towards the
// original destination (opened at the first allowed stream). Each stream's request header is
// decided against the L7 rules like an HTTP/1.1 request (method, :path, :authority, headers);
// a denied gRPC call (content-type application/grpc*) gets a trailers-only response with
// grpc-status 7 (PERMISSION_DENIED), other denied requests 403; allowed streams are relayed
// both ways with their bodies and trailers. Flow control is end to end: a stream's bytes are
// acknowledged to the sender only once the other side's session has taken them, so a slow
// reader holds at most one stream window per stream in the proxy.
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>

// clang-format off
#include <utility>  // first: Boost 1.74's asio/awaitable.hpp uses std::exchange without it
// clang-format on

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <map>
#include <memory>

#include "proxy/proxy_internal.h"

namespace membrane::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kUseAwaitable = asio::use_awaitable;
constexpr uint32_t kMaxConcurrentStreams = 100;

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Stream {
  int32_t down_id = 0;
  int32_t up_id = -1;
  Headers request;
  size_t header_bytes = 0;
  bool decided = false;
  bool allowed = false;
  bool pending = false;  // allowed, waiting for the upstream connection
  std::string req_body;  // from the client, not yet taken by the upstream session
  bool req_end = false;
  Headers response;
  Headers trailers;
  std::string resp_body;  // from upstream, not yet taken by the client session
  bool resp_end = false;
  bool responded = false;  // response headers submitted to the client
  AccessRecord rec;
  std::chrono::steady_clock::time_point start;
};

bool isGrpc(const Headers& h) {
  for (const auto& [k, v] : h) {
    if (k == "content-type") return v.rfind("application/grpc", 0) == 0;
  }
  return false;
}

std::string headerOf(const Headers& h, std::string_view name) {
  for (const auto& [k, v] : h) {
    if (k == name) return v;
  }
  return "";
}

// Hop-by-hop fields HTTP/2 forbids; nghttp2 rejects them when submitted.
bool connectionSpecific(std::string_view k) {
  return k == "connection" || k == "keep-alive" || k == "proxy-connection" ||
         k == "transfer-encoding" || k == "upgrade";
}

std::vector<nghttp2_nv> nvs(const Headers& h) {
  std::vector<nghttp2_nv> out;
  for (const auto& [k, v] : h) {
    if (connectionSpecific(k)) continue;
    out.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(k.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), k.size(), v.size(),
                   NGHTTP2_NV_FLAG_NONE});
  }
  return out;
}

class H2Session {
 public:
  H2Session(HttpProxy::Impl& impl, beast::tcp_stream client, tcp::endpoint src, tcp::endpoint dst)
      : impl_(impl),
        client_(std::move(client)),
        upstream_(client_.get_executor()),
        src_(src),
        dst_(dst) {}
  ~H2Session();
  asio::awaitable<void> run(std::string preread);

 private:
  enum Side { kDown = 0, kUp = 1 };
  bool setup(Side side);
  beast::tcp_stream& socketOf(Side side) { return side == kDown ? client_ : upstream_; }
  asio::awaitable<void> readLoop(Side side);
  asio::awaitable<void> writeLoop(Side side);
  void flush();
  asio::awaitable<void> startPending();
  void decide(Stream& s);
  void deny(Stream& s, const Decision& d);
  void submitUpstream(Stream& s);
  void upstreamGone();
  void log(Stream& s);

  // nghttp2 callbacks (user_data = this); `side` from the session they come from.
  static int onBeginHeaders(nghttp2_session* ses, const nghttp2_frame* f, void* u);
  static int onHeader(nghttp2_session* ses, const nghttp2_frame* f, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                      void* u);
  static int onFrameRecv(nghttp2_session* ses, const nghttp2_frame* f, void* u);
  static int onDataChunk(nghttp2_session* ses, uint8_t flags, int32_t id, const uint8_t* data,
                         size_t len, void* u);
  static int onStreamClose(nghttp2_session* ses, int32_t id, uint32_t code, void* u);
  static ssize_t readRequestBody(nghttp2_session* ses, int32_t id, uint8_t* buf, size_t len,
                                 uint32_t* flags, nghttp2_data_source* src, void* u);
  static ssize_t readResponseBody(nghttp2_session* ses, int32_t id, uint8_t* buf, size_t len,
                                  uint32_t* flags, nghttp2_data_source* src, void* u);
  static ssize_t readLocalBody(nghttp2_session* ses, int32_t id, uint8_t* buf, size_t len,
                               uint32_t* flags, nghttp2_data_source* src, void* u);
  Stream* byId(nghttp2_session* ses, int32_t id);

  HttpProxy::Impl& impl_;
  beast::tcp_stream client_;
  beast::tcp_stream upstream_;
  tcp::endpoint src_, dst_;
  nghttp2_session* sess_[2] = {nullptr, nullptr};
  bool writing_[2] = {false, false};
  bool dead_[2] = {false, false};
  bool connecting_ = false;
  int tasks_ = 0;  // spawned coroutines still running (they use this object)
  std::map<int32_t, std::shared_ptr<Stream>> down_;  // by client stream id
  std::map<int32_t, std::shared_ptr<Stream>> up_;    // by upstream stream id
  std::map<int32_t, std::string> local_bodies_;      // 403 bodies by client stream id
};

H2Session::~H2Session() {
  for (nghttp2_session* s : sess_) nghttp2_session_del(s);
}

bool H2Session::setup(Side side) {
  nghttp2_session_callbacks* cbs = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0) return false;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, onFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, onDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, onStreamClose);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Received DATA is acknowledged (WINDOW_UPDATE) only once the other side took it.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  const int rv = side == kDown ? nghttp2_session_server_new2(&sess_[side], cbs, this, opt)
                               : nghttp2_session_client_new2(&sess_[side], cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) return false;
  const nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, impl_.cfg.header_limit}};
  return nghttp2_submit_settings(sess_[side], NGHTTP2_FLAG_NONE, iv, 2) == 0;
}

Stream* H2Session::byId(nghttp2_session* ses, int32_t id) {
  auto& m = ses == sess_[kDown] ? down_ : up_;
  auto it = m.find(id);
  return it == m.end() ? nullptr : it->second.get();
}

int H2Session::onBeginHeaders(nghttp2_session* ses, const nghttp2_frame* f, void* u) {
  auto* self = static_cast<H2Session*>(u);
  if (ses != self->sess_[kDown] || f->hd.type != NGHTTP2_HEADERS ||
      f->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  auto s = std::make_shared<Stream>();
  s->down_id = f->hd.stream_id;
  s->start = std::chrono::steady_clock::now();
  s->rec.time_unix_ns = nowUnixNs();
  self->down_[s->down_id] = std::move(s);
  return 0;
}

int H2Session::onHeader(nghttp2_session* ses, const nghttp2_frame* f, const uint8_t* name,
                        size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* u) {
  auto* self = static_cast<H2Session*>(u);
  Stream* s = self->byId(ses, f->hd.stream_id);
  if (s == nullptr || f->hd.type != NGHTTP2_HEADERS) return 0;
  std::pair<std::string, std::string> kv{{reinterpret_cast<const char*>(name), namelen},
                                         {reinterpret_cast<const char*>(value), valuelen}};
  if (ses == self->sess_[kDown]) {
    // Past the advertised header list size: reset this stream, not the connection.
    s->header_bytes += namelen + valuelen + 32;
    if (s->header_bytes > self->impl_.cfg.header_limit) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (!s->decided) s->request.push_back(std::move(kv));  // request trailers are dropped
  } else if (f->headers.cat == NGHTTP2_HCAT_RESPONSE) {
    s->response.push_back(std::move(kv));
  } else {
    s->trailers.push_back(std::move(kv));
  }
  return 0;
}

void H2Session::log(Stream& s) {
  if (impl_.log) impl_.log(s.rec);
}

void H2Session::deny(Stream& s, const Decision& d) {
  s.rec.verdict = "DENIED";
  s.rec.code = 403;
  log(s);
  nghttp2_session* down = sess_[kDown];
  if (isGrpc(s.request)) {
    // A gRPC client expects a status, not a broken stream: trailers-only response.
    const Headers h = {
        {":status", "200"},
        {"content-type", "application/grpc"},
        {"grpc-status", "7"},
        {"grpc-message", "membrane L7 policy denies " + headerOf(s.request, ":path")}};
    const auto nv = nvs(h);
    nghttp2_submit_response(down, s.down_id, nv.data(), nv.size(), nullptr);
  } else {
    local_bodies_[s.down_id] = "Access denied by membrane L7 policy: " + s.rec.method + " " +
                               headerOf(s.request, ":path") + " matches no rule of " + d.policy +
                               "\n";
    const Headers h = {{":status", "403"},
                       {"content-type", "text/plain"},
                       {"content-length", std::to_string(local_bodies_[s.down_id].size())}};
    const auto nv = nvs(h);
    nghttp2_data_provider prd{};
    prd.read_callback = readLocalBody;
    nghttp2_submit_response(down, s.down_id, nv.data(), nv.size(), &prd);
  }
  s.responded = true;
  s.resp_end = true;
  // The rest of a refused request body is read and dropped (onDataChunk), never forwarded.
}

void H2Session::decide(Stream& s) {
  s.decided = true;
  model::HttpRequest req{.method = headerOf(s.request, ":method"),
                         .target = headerOf(s.request, ":path"),
                         .host = headerOf(s.request, ":authority")};
  if (req.host.empty()) req.host = headerOf(s.request, "host");
  for (const auto& [k, v] : s.request) {
    if (!k.empty() && k[0] != ':') req.headers.emplace_back(k, v);
  }
  s.rec.source = endpointStr(src_);
  s.rec.destination = endpointStr(dst_);
  s.rec.method = req.method;
  s.rec.url = "http://" + (req.host.empty() ? endpointStr(dst_) : req.host) + req.target;
  s.rec.protocol = "HTTP/2";
  const Decision d = decideRequest(*impl_.snapshot(), src_, dst_, req);
  s.rec.source_identity = d.src_identity;
  s.rec.destination_identity = d.dst_identity;
  s.rec.rule = d.rule;
  if (!d.allowed) {
    deny(s, d);
    return;
  }
  s.allowed = true;
  s.rec.verdict = "FORWARDED";
  if (sess_[kUp] != nullptr && !dead_[kUp]) {
    submitUpstream(s);
  } else {
    s.pending = true;  // startPending() connects, then submits
  }
}

void H2Session::submitUpstream(Stream& s) {
  s.pending = false;
  const auto nv = nvs(s.request);
  nghttp2_data_provider prd{};
  prd.read_callback = readRequestBody;
  // A request that ended with its header has no body: no data provider (END_STREAM).
  const int32_t id =
      nghttp2_submit_request(sess_[kUp], nullptr, nv.data(), nv.size(),
                             s.req_end && s.req_body.empty() ? nullptr : &prd, nullptr);
  if (id < 0) {
    s.rec.verdict = "ERROR";
    s.rec.code = 502;
    s.rec.rule += " (upstream stream: " + std::string(nghttp2_strerror(id)) + ")";
    log(s);
    nghttp2_submit_rst_stream(sess_[kDown], NGHTTP2_FLAG_NONE, s.down_id, NGHTTP2_REFUSED_STREAM);
    return;
  }
  s.up_id = id;
  up_[id] = down_[s.down_id];
}

int H2Session::onFrameRecv(nghttp2_session* ses, const nghttp2_frame* f, void* u) {
  auto* self = static_cast<H2Session*>(u);
  Stream* s = self->byId(ses, f->hd.stream_id);
  if (s == nullptr) return 0;
  const bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (ses == self->sess_[kDown]) {
    if (end) s->req_end = true;
    if (f->hd.type == NGHTTP2_HEADERS && !s->decided) {
      self->decide(*s);
    } else if (end && s->up_id >= 0) {
      nghttp2_session_resume_data(self->sess_[kUp], s->up_id);
    }
    return 0;
  }
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_RESPONSE) {
    const std::string status = headerOf(s->response, ":status");
    if (!status.empty() && status[0] == '1') {  // interim response: the final one follows
      s->response.clear();
      return 0;
    }
    s->rec.code = static_cast<unsigned>(std::atoi(status.c_str()));
    s->rec.latency_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now() - s->start)
                            .count();
    self->log(*s);
    if (end) s->resp_end = true;
    const auto nv = nvs(s->response);
    nghttp2_data_provider prd{};
    prd.read_callback = readResponseBody;
    nghttp2_submit_response(self->sess_[kDown], s->down_id, nv.data(), nv.size(),
                            end ? nullptr : &prd);
    s->responded = true;
    return 0;
  }
  if (end) {
    s->resp_end = true;  // DATA with END_STREAM, or the trailers
    nghttp2_session_resume_data(self->sess_[kDown], s->down_id);
  }
  return 0;
}

int H2Session::onDataChunk(nghttp2_session* ses, uint8_t, int32_t id, const uint8_t* data,
                           size_t len, void* u) {
  auto* self = static_cast<H2Session*>(u);
  Stream* s = self->byId(ses, id);
  if (ses == self->sess_[kDown]) {
    if (s == nullptr || !s->allowed) {
      nghttp2_session_consume(ses, id, len);  // refused: drop, but keep the window open
      return 0;
    }
    s->req_body.append(reinterpret_cast<const char*>(data), len);
    if (s->up_id >= 0) nghttp2_session_resume_data(self->sess_[kUp], s->up_id);
    return 0;
  }
  if (s == nullptr) {
    nghttp2_session_consume(ses, id, len);
    return 0;
  }
  s->resp_body.append(reinterpret_cast<const char*>(data), len);
  nghttp2_session_resume_data(self->sess_[kDown], s->down_id);
  return 0;
}

int H2Session::onStreamClose(nghttp2_session* ses, int32_t id, uint32_t code, void* u) {
  auto* self = static_cast<H2Session*>(u);
  if (ses == self->sess_[kDown]) {
    auto it = self->down_.find(id);
    if (it == self->down_.end()) return 0;
    Stream& s = *it->second;
    // The client went away (or the exchange is over): the upstream stream goes too.
    if (s.up_id >= 0 && self->sess_[kUp] != nullptr && !s.resp_end) {
      nghttp2_submit_rst_stream(self->sess_[kUp], NGHTTP2_FLAG_NONE, s.up_id, NGHTTP2_CANCEL);
    }
    if (s.up_id >= 0) self->up_.erase(s.up_id);
    self->local_bodies_.erase(id);
    self->down_.erase(it);
    return 0;
  }
  auto it = self->up_.find(id);
  if (it == self->up_.end()) return 0;
  Stream& s = *it->second;
  s.up_id = -1;
  if (!s.responded) {
    // Upstream reset the stream before answering: the client hears about it as 502.
    s.rec.verdict = "ERROR";
    s.rec.code = 502;
    s.rec.rule += " (upstream reset the stream: " + std::string(nghttp2_http2_strerror(code)) + ")";
    self->log(s);
    const Headers h = {{":status", "502"}};
    const auto nv = nvs(h);
    nghttp2_submit_response(self->sess_[kDown], s.down_id, nv.data(), nv.size(), nullptr);
    s.responded = true;
  } else if (!s.resp_end) {
    nghttp2_submit_rst_stream(self->sess_[kDown], NGHTTP2_FLAG_NONE, s.down_id,
                              NGHTTP2_INTERNAL_ERROR);
  }
  self->up_.erase(it);
  return 0;
}

// Body callbacks look their stream up by id: a stream the other side closed is gone, and its
// pending data is reset rather than read from freed memory.
ssize_t H2Session::readRequestBody(nghttp2_session*, int32_t id, uint8_t* buf, size_t len,
                                   uint32_t* flags, nghttp2_data_source*, void* u) {
  auto* self = static_cast<H2Session*>(u);
  auto it = self->up_.find(id);
  if (it == self->up_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  Stream* s = it->second.get();
  const size_t n = std::min(len, s->req_body.size());
  if (n == 0 && !s->req_end) return NGHTTP2_ERR_DEFERRED;
  std::memcpy(buf, s->req_body.data(), n);
  s->req_body.erase(0, n);
  nghttp2_session_consume(self->sess_[kDown], s->down_id, n);
  if (s->req_end && s->req_body.empty()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

ssize_t H2Session::readResponseBody(nghttp2_session*, int32_t id, uint8_t* buf, size_t len,
                                    uint32_t* flags, nghttp2_data_source*, void* u) {
  auto* self = static_cast<H2Session*>(u);
  auto it = self->down_.find(id);
  if (it == self->down_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  Stream* s = it->second.get();
  const size_t n = std::min(len, s->resp_body.size());
  if (n == 0 && !s->resp_end) return NGHTTP2_ERR_DEFERRED;
  std::memcpy(buf, s->resp_body.data(), n);
  s->resp_body.erase(0, n);
  if (s->up_id >= 0 && self->sess_[kUp] != nullptr) {
    nghttp2_session_consume(self->sess_[kUp], s->up_id, n);
  }
  if (s->resp_end && s->resp_body.empty()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!s->trailers.empty()) {
      // gRPC's status travels in the trailers.
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      const auto nv = nvs(s->trailers);
      nghttp2_submit_trailer(self->sess_[kDown], s->down_id, nv.data(), nv.size());
    }
  }
  return static_cast<ssize_t>(n);
}

ssize_t H2Session::readLocalBody(nghttp2_session*, int32_t id, uint8_t* buf, size_t len,
                                 uint32_t* flags, nghttp2_data_source*, void* u) {
  auto* self = static_cast<H2Session*>(u);
  std::string& body = self->local_bodies_[id];
  const size_t n = std::min(len, body.size());
  std::memcpy(buf, body.data(), n);
  body.erase(0, n);
  if (body.empty()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

// The upstream connection broke: every stream relayed through it ends for the client too.
void H2Session::upstreamGone() {
  dead_[kUp] = true;
  for (auto& [id, s] : down_) {
    if (s->up_id < 0 && !s->pending) continue;
    if (!s->responded) {
      s->rec.verdict = "ERROR";
      s->rec.code = 502;
      log(*s);
      const Headers h = {{":status", "502"}};
      const auto nv = nvs(h);
      nghttp2_submit_response(sess_[kDown], s->down_id, nv.data(), nv.size(), nullptr);
      s->responded = true;
    } else if (!s->resp_end) {
      nghttp2_submit_rst_stream(sess_[kDown], NGHTTP2_FLAG_NONE, s->down_id,
                                NGHTTP2_INTERNAL_ERROR);
    }
    s->up_id = -1;
    s->pending = false;
  }
  up_.clear();
}

// Allowed streams that arrived before the upstream connection: connect once, then submit.
asio::awaitable<void> H2Session::startPending() {
  bool any = false;
  for (auto& [id, s] : down_) any |= s->pending;
  if (!any || connecting_) co_return;
  if (sess_[kUp] == nullptr && !dead_[kUp]) {
    connecting_ = true;
    const error_code ec = co_await connectOriginal(impl_, upstream_, src_, dst_);
    connecting_ = false;
    if (ec || !setup(kUp)) {
      for (auto& [id, s] : down_) {
        if (s->pending) {
          s->rec.rule += " (upstream " + endpointStr(dst_) + ": " +
                         (ec ? ec.message() : std::string("HTTP/2 setup")) + ")";
        }
      }
      upstreamGone();
      co_return;
    }
    upstream_.expires_never();
    ++tasks_;
    asio::co_spawn(client_.get_executor(), readLoop(kUp), asio::detached);
  }
  if (dead_[kUp]) {
    upstreamGone();
    co_return;
  }
  for (auto& [id, s] : down_) {
    if (s->pending) submitUpstream(*s);
  }
}

void H2Session::flush() {
  for (Side side : {kDown, kUp}) {
    if (sess_[side] == nullptr || writing_[side] || dead_[side]) continue;
    if (nghttp2_session_want_write(sess_[side]) == 0) continue;
    writing_[side] = true;
    ++tasks_;
    asio::co_spawn(client_.get_executor(), writeLoop(side), asio::detached);
  }
}

asio::awaitable<void> H2Session::writeLoop(Side side) {
  error_code ec;
  for (;;) {
    std::string out;
    const uint8_t* data = nullptr;
    ssize_t n = 0;
    while ((n = nghttp2_session_mem_send(sess_[side], &data)) > 0) {
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
      if (out.size() >= 64 * 1024) break;
    }
    if (n < 0) ec = asio::error::invalid_argument;
    if (out.empty() || ec) break;
    socketOf(side).expires_after(impl_.cfg.idle_timeout);
    co_await asio::async_write(socketOf(side), asio::buffer(out),
                               asio::redirect_error(kUseAwaitable, ec));
    if (ec) break;
    flush();  // taking data from one side may have opened windows on the other
  }
  writing_[side] = false;
  if (ec) {
    dead_[side] = true;
    socketOf(side).close();
  } else if (nghttp2_session_want_read(sess_[side]) == 0 &&
             nghttp2_session_want_write(sess_[side]) == 0) {
    socketOf(side).cancel();  // the GOAWAY is out: the pending read ends, the loop with it
  }
  --tasks_;
  flush();
}

asio::awaitable<void> H2Session::readLoop(Side side) {
  char buf[16384];
  error_code ec;
  while (!dead_[side]) {
    socketOf(side).expires_after(impl_.cfg.idle_timeout);
    const size_t n = co_await socketOf(side).async_read_some(
        asio::buffer(buf), asio::redirect_error(kUseAwaitable, ec));
    if (ec) break;
    const ssize_t rv =
        nghttp2_session_mem_recv(sess_[side], reinterpret_cast<const uint8_t*>(buf), n);
    if (rv < 0) break;
    if (side == kDown) co_await startPending();
    flush();
    // A session that wants nothing more from its peer (a GOAWAY went or is going out) stops
    // reading; what is queued is still written before the connection closes.
    if (nghttp2_session_want_read(sess_[side]) == 0) break;
  }
  if (side == kUp) {
    if (!dead_[kDown]) upstreamGone();
    flush();
    --tasks_;
  }
}

asio::awaitable<void> H2Session::run(std::string preread) {
  if (!setup(kDown)) co_return;
  const ssize_t rv = nghttp2_session_mem_recv(
      sess_[kDown], reinterpret_cast<const uint8_t*>(preread.data()), preread.size());
  if (rv >= 0) {
    flush();
    co_await readLoop(kDown);
  }
  // Let the last responses out (a GOAWAY, a final status), then close both connections and
  // wait for the coroutines that still use this object.
  dead_[kDown] = true;
  error_code ec;
  asio::steady_timer t(client_.get_executor());
  for (int i = 0; i < 100 && writing_[kDown]; ++i) {
    t.expires_after(std::chrono::milliseconds(10));
    co_await t.async_wait(asio::redirect_error(kUseAwaitable, ec));
  }
  client_.socket().close(ec);
  upstream_.socket().close(ec);
  while (tasks_ > 0) {
    t.expires_after(std::chrono::milliseconds(1));
    co_await t.async_wait(asio::redirect_error(kUseAwaitable, ec));
  }
}

}  // namespace

asio::awaitable<void> runH2Session(HttpProxy::Impl& impl, beast::tcp_stream client,
                                   tcp::endpoint src, tcp::endpoint dst, std::string preread) {
  H2Session s(impl, std::move(client), src, dst);
  co_await s.run(std::move(preread));
}

}  // namespace membrane::proxy
