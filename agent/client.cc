// SPDX-License-Identifier: Apache-2.0
#include "agent/client.h"

#include <httplib.h>
#include <sys/socket.h>

namespace membrane::agent {

dataplane::Result<ApiReply> apiRequest(const std::string& socket, const std::string& method,
                                       const std::string& path, const std::string& body) {
  httplib::Client cli(socket);
  cli.set_address_family(AF_UNIX);
  cli.set_connection_timeout(2);
  cli.set_read_timeout(60);
  if (method != "GET" && method != "PUT" && method != "POST" && method != "PATCH" &&
      method != "DELETE") {
    return dataplane::Error{.code = EINVAL, .context = "method " + method};
  }
  httplib::Result r = method == "GET"     ? cli.Get(path)
                      : method == "PUT"   ? cli.Put(path, body, "application/json")
                      : method == "POST"  ? cli.Post(path, body, "application/json")
                      : method == "PATCH" ? cli.Patch(path, body, "application/json")
                                          : cli.Delete(path);
  if (!r) {
    return dataplane::Error{.code = ECONNREFUSED,
                            .context = "agent at " + socket + ": " + httplib::to_string(r.error())};
  }
  ApiReply out{.status = r->status};
  try {
    out.body = nlohmann::json::parse(r->body);
  } catch (const nlohmann::json::exception& e) {
    return dataplane::Error{.code = EPROTO,
                            .context = "agent at " + socket + " answered no JSON: " + e.what()};
  }
  return out;
}

}  // namespace membrane::agent
