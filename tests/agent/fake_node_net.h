// SPDX-License-Identifier: Apache-2.0
// An in-memory NodeNet: links by name with ifindexes, routes, attachments; every call is
// logged ("createVeth lxc0a000102") and one step can be made to fail.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/node_net.h"

namespace membrane::agent {

class FakeNodeNet final : public NodeNet {
 public:
  std::vector<std::string> calls;
  std::string fail_on;  // a method name: that call fails with EIO
  std::map<std::string, int> links;
  std::map<std::pair<uint32_t, uint8_t>, uint32_t> routes;
  std::set<int> attached;
  int next_ifindex = 10;

  std::optional<int> linkIndex(const std::string& name) override {
    auto it = links.find(name);
    return it == links.end() ? std::nullopt : std::optional<int>(it->second);
  }
  std::optional<int> linkHolding(uint32_t) override { return 2; }
  Status createVeth(const std::string& host, const Mac&, const PodInterface&) override {
    if (auto s = step("createVeth", host); !s) return s;
    links[host] = next_ifindex++;
    return {};
  }
  Status configurePod(const PodInterface& p) override { return step("configurePod", p.ifname); }
  Status checkPod(const PodInterface& p) override { return step("checkPod", p.ifname); }
  Status deleteLink(const std::string& name) override {
    if (auto s = step("deleteLink", name); !s) return s;
    if (links.count(name)) attached.erase(links[name]);
    links.erase(name);
    return {};
  }
  Status replaceRoute(uint32_t dst, uint8_t len, uint32_t via, int) override {
    if (auto s = step("replaceRoute", std::to_string(dst) + "/" + std::to_string(len)); !s) {
      return s;
    }
    routes[{dst, len}] = via;
    return {};
  }
  Status deleteRoute(uint32_t dst, uint8_t len) override {
    routes.erase({dst, len});
    return step("deleteRoute", std::to_string(dst) + "/" + std::to_string(len));
  }
  Status replaceNeighbour(int, uint32_t, const Mac&) override {
    return step("replaceNeighbour", "");
  }
  Status createVxlan(const std::string& name, const Mac&, uint16_t, uint32_t) override {
    if (auto s = step("createVxlan", name); !s) return s;
    links[name] = next_ifindex++;
    return {};
  }
  Status attachEndpoint(int ifindex) override {
    if (auto s = step("attachEndpoint", std::to_string(ifindex)); !s) return s;
    attached.insert(ifindex);
    return {};
  }
  Status attachOverlay(int ifindex) override {
    return step("attachOverlay", std::to_string(ifindex));
  }
  Status checkAttached(int ifindex) override {
    if (!attached.count(ifindex))
      return dataplane::Error{.code = ENOENT, .context = "not attached"};
    return {};
  }

  size_t count(const std::string& method) const {
    size_t n = 0;
    for (const auto& c : calls) n += c.rfind(method + " ", 0) == 0 ? 1 : 0;
    return n;
  }

 private:
  Status step(const std::string& method, const std::string& arg) {
    calls.push_back(method + " " + arg);
    if (method == fail_on) return dataplane::Error{.code = EIO, .context = "injected: " + method};
    return {};
  }
};

}  // namespace membrane::agent
