// SPDX-License-Identifier: Apache-2.0
#include "agent/api.h"

#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "model/ip.h"

namespace membrane::agent {
namespace {

using nlohmann::json;

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

void replyError(httplib::Response& res, const Error& e) {
  auto [status, code] = httpStatusOf(e);
  reply(res, status, {{"error", {{"code", code}, {"message", e.context}}}});
}

std::string ifnameOf(const httplib::Request& req) {
  return req.has_param("ifname") ? req.get_param_value("ifname") : "eth0";
}

// Reads an optional string field; an error names the field when it has another type.
Result<std::string> optString(const json& j, const char* field) {
  if (!j.contains(field) || j[field].is_null()) return std::string();
  if (!j[field].is_string())
    return Error{.code = EINVAL, .context = std::string(field) + ": expected a string"};
  return j[field].get<std::string>();
}

Result<CreateRequest> parseCreate(const httplib::Request& req) {
  json j;
  try {
    j = json::parse(req.body);
  } catch (const json::exception& e) {
    return Error{.code = EINVAL, .context = std::string("body: malformed JSON: ") + e.what()};
  }
  if (!j.is_object()) return Error{.code = EINVAL, .context = "body: expected a JSON object"};
  CreateRequest c;
  c.container_id = req.matches[1];
  std::string* fields[] = {&c.ifname, &c.netns, &c.pod_namespace, &c.pod_name};
  const char* names[] = {"ifname", "netns", "podNamespace", "podName"};
  for (size_t i = 0; i < 4; ++i) {
    auto v = optString(j, names[i]);
    if (!v) return v.error();
    *fields[i] = *v;
  }
  auto cid = optString(j, "containerId");
  if (!cid) return cid.error();
  if (!cid->empty() && *cid != c.container_id) {
    return Error{.code = EINVAL,
                 .context = "containerId: \"" + *cid + "\" differs from the path's"};
  }
  if (c.ifname.empty()) return Error{.code = EINVAL, .context = "ifname: required"};
  if (c.netns.empty()) return Error{.code = EINVAL, .context = "netns: required"};
  if (j.contains("labels") && !j["labels"].is_null()) {
    if (!j["labels"].is_object())
      return Error{.code = EINVAL, .context = "labels: expected an object of strings"};
    for (const auto& [k, v] : j["labels"].items()) {
      if (!v.is_string() || k.empty()) {
        return Error{.code = EINVAL, .context = "labels." + k + ": expected a string value"};
      }
      c.labels[k] = v.get<std::string>();
    }
  }
  auto ip = optString(j, "ip");
  if (!ip) return ip.error();
  if (!ip->empty()) {
    auto a = model::parseIpv4(*ip);
    if (!a) return Error{.code = EINVAL, .context = "ip: \"" + *ip + "\" is not an IPv4 address"};
    c.ip = *a;
  }
  return c;
}

// PATCH /v1/endpoints/ID/config: {"policyAuditMode": true|false}; nothing else is accepted.
Result<bool> parseEndpointConfig(const std::string& body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    return Error{.code = EINVAL, .context = std::string("body: not JSON: ") + e.what()};
  }
  if (!j.is_object()) return Error{.code = EINVAL, .context = "body: expected a JSON object"};
  for (const auto& [k, v] : j.items()) {
    if (k != "policyAuditMode") {
      return Error{.code = EINVAL,
                   .context = "unknown field \"" + k + "\" (expected policyAuditMode)"};
    }
  }
  if (!j.contains("policyAuditMode") || !j["policyAuditMode"].is_boolean()) {
    return Error{.code = EINVAL, .context = "policyAuditMode: expected true or false"};
  }
  return j["policyAuditMode"].get<bool>();
}

void routeEndpoints(httplib::Server& s, Agent& a) {
  s.Put(R"(/v1/endpoints/([^/]+))", [&a](const httplib::Request& req, httplib::Response& res) {
    auto c = parseCreate(req);
    if (!c) return replyError(res, c.error());
    auto r = a.createEndpoint(*c);
    if (!r) return replyError(res, r.error());
    reply(res, r->created ? 201 : 200, {{"endpoint", toJson(r->endpoint)}});
  });
  s.Delete(R"(/v1/endpoints/([^/]+))", [&a](const httplib::Request& req, httplib::Response& res) {
    auto st = a.deleteEndpoint(req.matches[1], ifnameOf(req));
    if (!st) return replyError(res, st.error());
    reply(res, 200, {{"deleted", true}});
  });
  s.Get("/v1/endpoints", [&a](const httplib::Request&, httplib::Response& res) {
    json list = json::array();
    for (const auto& e : a.endpoints()) list.push_back(toJson(e));
    reply(res, 200, {{"endpoints", list}});
  });
  s.Get(R"(/v1/endpoints/([^/]+))", [&a](const httplib::Request& req, httplib::Response& res) {
    auto e = a.endpoint(req.matches[1], ifnameOf(req));
    if (!e) return replyError(res, e.error());
    reply(res, 200, {{"endpoint", toJson(*e)}});
  });
  s.Get(R"(/v1/endpoints/([^/]+)/check)",
        [&a](const httplib::Request& req, httplib::Response& res) {
          auto st = a.checkEndpoint(req.matches[1], ifnameOf(req));
          if (!st) return replyError(res, st.error());
          reply(res, 200, {{"ok", true}});
        });
  s.Patch(R"(/v1/endpoints/([^/]+)/config)",
          [&a](const httplib::Request& req, httplib::Response& res) {
            auto audit = parseEndpointConfig(req.body);
            if (!audit) return replyError(res, audit.error());
            auto e = a.configureEndpoint(req.matches[1], ifnameOf(req), *audit);
            if (!e) return replyError(res, e.error());
            reply(res, 200, {{"endpoint", toJson(*e)}});
          });
  s.Get(R"(/v1/endpoints/([^/]+)/policy)",
        [&a](const httplib::Request& req, httplib::Response& res) {
          auto p = a.endpointPolicy(req.matches[1], ifnameOf(req));
          if (!p) return replyError(res, p.error());
          reply(res, 200, *p);
        });
}

void routeNode(httplib::Server& s, Agent& a) {
  s.Post("/v1/gc", [&a](const httplib::Request& req, httplib::Response& res) {
    std::set<std::string> keep;
    try {
      const json j = json::parse(req.body);
      for (const auto& k : j.at("keep")) {
        keep.insert(k.at("containerId").get<std::string>() + "/" +
                    k.at("ifname").get<std::string>());
      }
    } catch (const json::exception& e) {
      return replyError(
          res,
          Error{.code = EINVAL,
                .context = std::string("keep: expected [{containerId, ifname}]: ") + e.what()});
    }
    auto r = a.gc(keep);
    if (!r) return replyError(res, r.error());
    reply(res, 200, {{"removed", *r}});
  });
  s.Get("/healthz", [&a](const httplib::Request&, httplib::Response& res) {
    const bool ok = a.ready();
    reply(res, ok ? 200 : 503, {{"status", ok ? "ok" : "starting"}});
  });
  s.Get("/status",
        [&a](const httplib::Request&, httplib::Response& res) { reply(res, 200, a.status()); });
  s.Get("/v1/cni/status", [&a](const httplib::Request&, httplib::Response& res) {
    if (a.ready()) return reply(res, 200, {{"ready", true}});
    replyError(res,
               Error{.code = EAGAIN, .context = "the agent has not finished its first reconcile"});
  });
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    reply(res, res.status,
          {{"error",
            {{"code", res.status == 404 ? "not-found" : "invalid"},
             {"message", "no such API path or method"}}}});
  });
}

}  // namespace

std::pair<int, std::string> httpStatusOf(const Error& e) {
  switch (e.code) {
    case EINVAL:
      return {400, "invalid"};
    case ENOENT:
      return {404, "not-found"};
    case EEXIST:
    case EADDRINUSE:
      return {409, "conflict"};
    case EPROTO:
      return {409, "check-failed"};
    case EAGAIN:
      return {503, "not-ready"};
    case ENOSPC:
      return {507, "ipam-exhausted"};
    default:
      return {500, "internal"};
  }
}

Result<std::unique_ptr<ApiServer>> ApiServer::start(Agent& agent, const std::string& socket) {
  std::unique_ptr<ApiServer> api(new ApiServer());
  api->socket_ = socket;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(socket).parent_path(), ec);
  if (ec) return dataplane::errnoError(ec.value(), "create the socket's directory");
  unlink(socket.c_str());  // a stale socket of an agent that died
  api->server_ = std::make_unique<httplib::Server>();
  api->server_->set_address_family(AF_UNIX);
  routeEndpoints(*api->server_, agent);
  routeNode(*api->server_, agent);
  if (!api->server_->bind_to_port(socket, 80)) {
    return dataplane::errnoError(errno ? errno : EADDRINUSE, "bind " + socket);
  }
  chmod(socket.c_str(), 0660);
  api->thread_ = std::thread([s = api->server_.get()] { s->listen_after_bind(); });
  return api;
}

ApiServer::~ApiServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  unlink(socket_.c_str());
}

}  // namespace membrane::agent
