// SPDX-License-Identifier: Apache-2.0
#include "tests/cni/fake_agent.h"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace membrane::cni::testing {

using nlohmann::json;

namespace {

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void error(httplib::Response& res, int status, const std::string& code, const std::string& msg) {
  reply(res, status, {{"error", {{"code", code}, {"message", msg}}}});
}

}  // namespace

FakeAgent::FakeAgent(std::string socketPath) : socket_(std::move(socketPath)) {
  ::unlink(socket_.c_str());
  server_.set_address_family(AF_UNIX);
  routes();
  thread_ = std::thread([this] { server_.listen(socket_.c_str(), 80); });
  // Wait on the condition (the server accepts), not on a fixed delay.
  for (int i = 0; i < 5000 && !server_.is_running(); ++i) ::usleep(1000);
  if (!server_.is_running()) throw std::runtime_error("fake agent did not start on " + socket_);
}

FakeAgent::~FakeAgent() {
  server_.stop();
  thread_.join();
  ::unlink(socket_.c_str());
}

void FakeAgent::setReady(bool ready) {
  std::lock_guard l(mu_);
  ready_ = ready;
}
void FakeAgent::setCheckFails(bool fails) {
  std::lock_guard l(mu_);
  checkFails_ = fails;
}
void FakeAgent::failNextPut(int status, std::string code) {
  std::lock_guard l(mu_);
  failStatus_ = status;
  failCode_ = std::move(code);
}
void FakeAgent::setMalformedPut(bool on) {
  std::lock_guard l(mu_);
  malformedPut_ = on;
}
void FakeAgent::setPutDelayMs(int ms) {
  std::lock_guard l(mu_);
  putDelayMs_ = ms;
}
size_t FakeAgent::endpointCount() const {
  std::lock_guard l(mu_);
  return endpoints_.size();
}
bool FakeAgent::hasEndpoint(const std::string& id, const std::string& ifname) const {
  std::lock_guard l(mu_);
  return endpoints_.contains(key(id, ifname));
}
json FakeAgent::endpoint(const std::string& id, const std::string& ifname) const {
  std::lock_guard l(mu_);
  auto it = endpoints_.find(key(id, ifname));
  return it == endpoints_.end() ? json() : it->second;
}
std::vector<std::string> FakeAgent::requestLog() const {
  std::lock_guard l(mu_);
  return log_;
}

void FakeAgent::routes() {
  // Recorded before routing, so a request is in the log before its answer is sent.
  server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
    std::lock_guard l(mu_);
    log_.push_back(req.method + " " + req.path);
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server_.Put(R"(/v1/endpoints/([^/]+))",
              [this](const httplib::Request& req, httplib::Response& res) {
                std::unique_lock l(mu_);
                if (!ready_) return error(res, 503, "not-ready", "first reconcile not finished");
                if (failStatus_ != 0) {
                  error(res, failStatus_, failCode_, "injected failure");
                  failStatus_ = 0;
                  return;
                }
                json body = json::parse(req.body, nullptr, false);
                if (!body.is_object() || !body.contains("ifname") || !body.contains("netns") ||
                    body.value("containerId", "") != req.matches[1].str())
                  return error(res, 400, "invalid", "containerId, ifname and netns are required");
                const std::string k = key(req.matches[1], body["ifname"]);
                if (auto it = endpoints_.find(k); it != endpoints_.end()) {
                  if (it->second["netns"] != body["netns"])
                    return error(res, 409, "conflict", "exists with another netns");
                  return reply(res, 200, {{"endpoint", it->second}});
                }
                std::string ip = body.value("ip", "10.0.1." + std::to_string(nextHost_++));
                json labels = body.value("labels", json{{"membrane.io/unmanaged-pod", "true"}});
                json ep = {{"id", nextId_++},
                           {"containerId", req.matches[1].str()},
                           {"ifname", body["ifname"]},
                           {"netns", body["netns"]},
                           {"podNamespace", body.value("podNamespace", "default")},
                           {"podName", body.value("podName", "")},
                           {"labels", labels},
                           {"identity", 40000},
                           {"ip", ip},
                           {"prefixLength", 32},
                           {"gateway", "169.254.1.1"},
                           {"mac", "0a:58:0a:00:01:07"},
                           {"hostIfname", "lxc0a000107"},
                           {"hostIfindex", 17},
                           {"mtu", 1450},
                           {"state", "ready"}};
                endpoints_[k] = ep;
                if (malformedPut_) ep.erase("ip");
                if (putDelayMs_ > 0) {
                  const int ms = putDelayMs_;
                  l.unlock();  // other requests (the plugin's undo) go on meanwhile
                  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
                }
                reply(res, 201, {{"endpoint", ep}});
              });
  server_.Delete(R"(/v1/endpoints/([^/]+))",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   std::lock_guard l(mu_);
                   if (!ready_) return error(res, 503, "not-ready", "first reconcile not finished");
                   if (endpoints_.erase(key(req.matches[1], req.get_param_value("ifname"))) == 0)
                     return error(res, 404, "not-found", "no such endpoint");
                   reply(res, 200, {{"deleted", true}});
                 });
  server_.Get(R"(/v1/endpoints/([^/]+))",
              [this](const httplib::Request& req, httplib::Response& res) {
                std::lock_guard l(mu_);
                auto it = endpoints_.find(key(req.matches[1], req.get_param_value("ifname")));
                if (it == endpoints_.end()) return error(res, 404, "not-found", "no such endpoint");
                reply(res, 200, {{"endpoint", it->second}});
              });
  server_.Get(R"(/v1/endpoints/([^/]+)/check)",
              [this](const httplib::Request& req, httplib::Response& res) {
                std::lock_guard l(mu_);
                if (!endpoints_.contains(key(req.matches[1], req.get_param_value("ifname"))))
                  return error(res, 404, "not-found", "no such endpoint");
                if (checkFails_)
                  return error(res, 409, "check-failed", "program not attached on lxc0a000107");
                reply(res, 200, {{"ok", true}});
              });
  server_.Post("/v1/gc", [this](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard l(mu_);
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("keep") || !body["keep"].is_array())
      return error(res, 400, "invalid", "keep: expected an array");
    std::map<std::string, json> kept;
    json removed = json::array();
    for (const json& k : body["keep"]) {
      std::string kk = key(k.value("containerId", ""), k.value("ifname", ""));
      if (auto it = endpoints_.find(kk); it != endpoints_.end()) kept[kk] = it->second;
    }
    for (const auto& [k, v] : endpoints_)
      if (!kept.contains(k)) removed.push_back(k);
    endpoints_ = std::move(kept);
    reply(res, 200, {{"removed", removed}});
  });
  server_.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard l(mu_);
    reply(res, ready_ ? 200 : 503, {{"status", ready_ ? "ok" : "starting"}});
  });
  server_.Get("/v1/cni/status", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard l(mu_);
    if (!ready_) return error(res, 503, "not-ready", "first reconcile not finished");
    reply(res, 200, {{"ready", true}});
  });
}

}  // namespace membrane::cni::testing
