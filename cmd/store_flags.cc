// SPDX-License-Identifier: Apache-2.0
#include "cmd/store_flags.h"

#include <charconv>
#include <sstream>

namespace membrane::cmd {

std::optional<StoreFlags> storeFlags(const std::map<std::string, std::string>& values,
                                     std::string& error) {
  auto value = [&](const char* flag) {
    auto it = values.find(flag);
    return it == values.end() ? std::string() : it->second;
  };
  StoreFlags f;
  if (values.count("--etcd-endpoints")) {
    f.client.endpoints.clear();
    std::stringstream s(value("--etcd-endpoints"));
    for (std::string e; std::getline(s, e, ',');) {
      if (!e.empty()) f.client.endpoints.push_back(e);
    }
    if (f.client.endpoints.empty()) {
      error = "--etcd-endpoints: expected comma-separated http(s)://HOST:PORT";
      return std::nullopt;
    }
  }
  f.client.tls = {.ca_file = value("--etcd-ca"),
                  .cert_file = value("--etcd-cert"),
                  .key_file = value("--etcd-key")};
  if (values.count("--etcd-timeout-ms")) {
    const std::string v = value("--etcd-timeout-ms");
    unsigned ms = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
    if (ec != std::errc() || p != v.data() + v.size() || ms == 0) {
      error = "--etcd-timeout-ms: \"" + v + "\" is not a positive number";
      return std::nullopt;
    }
    f.client.request_timeout = std::chrono::milliseconds(ms);
  }
  if (values.count("--etcd-prefix")) f.prefix = value("--etcd-prefix");
  return f;
}

}  // namespace membrane::cmd
