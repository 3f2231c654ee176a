// SPDX-License-Identifier: Apache-2.0
// An in-memory membrane-agent for the plugin's tests: docs/agent-api.md's endpoints served by
// cpp-httplib on a unix socket, with no kernel state behind them.
#pragma once

#include <httplib.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace membrane::cni::testing {

class FakeAgent {
 public:
  explicit FakeAgent(std::string socketPath);
  ~FakeAgent();
  FakeAgent(const FakeAgent&) = delete;
  FakeAgent& operator=(const FakeAgent&) = delete;

  void setReady(bool ready);
  void setCheckFails(bool fails);
  // The next PUT answers with this status and error code (e.g. 507 "ipam-exhausted").
  void failNextPut(int status, std::string code);
  // PUT creates the endpoint but answers without "ip" (a reply that breaks the contract).
  void setMalformedPut(bool on);
  // PUT creates the endpoint, then waits this long before answering (a client timeout).
  void setPutDelayMs(int ms);

  size_t endpointCount() const;
  bool hasEndpoint(const std::string& containerId, const std::string& ifname) const;
  nlohmann::json endpoint(const std::string& containerId, const std::string& ifname) const;
  std::vector<std::string> requestLog() const;  // "METHOD path" in arrival order

 private:
  void routes();
  std::string key(const std::string& id, const std::string& ifname) const {
    return id + "/" + ifname;
  }

  std::string socket_;
  httplib::Server server_;
  std::thread thread_;
  mutable std::mutex mu_;
  bool ready_ = true;
  bool checkFails_ = false;
  int failStatus_ = 0;
  bool malformedPut_ = false;
  int putDelayMs_ = 0;
  std::string failCode_;
  int nextHost_ = 2;
  int nextId_ = 1;
  std::map<std::string, nlohmann::json> endpoints_;  // containerId/ifname -> endpoint
  std::vector<std::string> log_;
};

}  // namespace membrane::cni::testing
