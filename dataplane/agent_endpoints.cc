// SPDX-License-Identifier: Apache-2.0
#include "dataplane/agent_endpoints.h"

#include <net/if.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "dataplane/ipcache_writer.h"
#include "dataplane/netns.h"

namespace membrane::dataplane {
namespace {

std::string macStr(const Mac& m) {
  char b[18];
  std::snprintf(b, sizeof(b), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

Mac macFor(uint8_t kind, uint32_t ip) {
  return {0x02,
          kind,
          static_cast<uint8_t>(ip >> 24),
          static_cast<uint8_t>(ip >> 16),
          static_cast<uint8_t>(ip >> 8),
          static_cast<uint8_t>(ip)};
}

}  // namespace

Mac podMac(uint32_t ip) { return macFor(0xaa, ip); }
Mac hostVethMac(uint32_t ip) { return macFor(0xbb, ip); }

std::string hostVethName(uint32_t ip) {
  char b[16];
  std::snprintf(b, sizeof(b), "lxc%08x", ip);
  return b;
}

Status ipBatch(const std::string& netns, const std::vector<std::string>& lines) {
  if (lines.empty()) return {};
  char path[] = "/tmp/membrane-ipbatch-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return errnoError(errno, "mkstemp");
  close(fd);
  {
    std::ofstream f(path);
    for (const auto& l : lines) f << l << "\n";
  }
  const std::string cmd =
      "ip " + (netns.empty() ? std::string() : "-n " + netns + " ") + "-batch " + path + " 2>&1";
  std::string output;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    unlink(path);
    return errnoError(errno, "popen ip -batch");
  }
  char buf[512];
  while (std::fgets(buf, sizeof(buf), p) != nullptr) output += buf;
  const int status = pclose(p);
  unlink(path);
  if (status != 0) {
    return Error{.code = EIO,
                 .context = "ip -batch in " + (netns.empty() ? "the root namespace" : netns) +
                            ": " + output};
  }
  return {};
}

Status EndpointManager::add(const std::vector<PodNet>& pods) {
  std::vector<std::string> node_lines;
  for (const auto& p : pods) {
    const std::string lxc = hostVethName(p.ip), ip = formatIpv4(p.ip);
    node_lines.push_back("link add " + lxc + " mtu " + std::to_string(kPodMtu) + " address " +
                         macStr(hostVethMac(p.ip)) + " type veth peer name eth0 address " +
                         macStr(podMac(p.ip)) + " netns " + p.netns);
    node_lines.push_back("link set " + lxc + " up");
    node_lines.push_back("route replace " + ip + "/32 dev " + lxc + " scope link");
    node_lines.push_back("neigh replace " + ip + " lladdr " + macStr(podMac(p.ip)) + " dev " + lxc +
                         " nud permanent");
  }
  if (auto s = ipBatch(node_netns_, node_lines); !s) return s;
  // One `ip -batch` per pod namespace, a few at a time: the fork/exec cost overlaps, the
  // kernel work itself serialises on RTNL anyway.
  const std::string gw = formatIpv4(kPodGateway);
  std::vector<Status> results(pods.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < pods.size(); i = next++) {
      const PodNet& p = pods[i];
      results[i] =
          ipBatch(p.netns, {"link set lo up", "link set eth0 mtu " + std::to_string(kPodMtu),
                            "addr add " + formatIpv4(p.ip) + "/32 dev eth0", "link set eth0 up",
                            "route add " + gw + " dev eth0 scope link",
                            "route add default via " + gw + " dev eth0",
                            "neigh replace " + gw + " lladdr " + macStr(hostVethMac(p.ip)) +
                                " dev eth0 nud permanent"});
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 0; t < std::min<size_t>(4, pods.size()); ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  for (auto& r : results) {
    if (!r) return r;
  }
  Status result;
  auto joined = runInNetns(node_netns_, [&] {
    for (const auto& p : pods) {
      const std::string lxc = hostVethName(p.ip);
      Wired w{.pod = p, .ifindex = static_cast<int>(if_nametoindex(lxc.c_str()))};
      if (w.ifindex == 0) {
        result = errnoError(errno, "no interface " + lxc + " in " + node_netns_);
        return;
      }
      auto a = dp_->attach(w.ifindex);
      if (!a) {
        result = a.error();
        return;
      }
      w.attachment = std::move(*a);
      pods_[p.name] = std::move(w);
    }
  });
  if (!joined) return joined;
  return result;
}

Status EndpointManager::remove(const std::string& name) {
  auto it = pods_.find(name);
  if (it == pods_.end()) return {};
  const std::string lxc = hostVethName(it->second.pod.ip);
  it->second.attachment.reset();
  pods_.erase(it);
  // Deleting one end removes the pair; the pod's namespace may already be gone with it.
  runQuiet("ip -n " + node_netns_ + " link del " + lxc);
  return {};
}

void EndpointManager::decorate(NodeState& state) const {
  for (auto& ep : state.endpoints) {
    auto it = pods_.find(ep.name);
    if (it == pods_.end()) continue;
    ep.ifindex = static_cast<uint32_t>(it->second.ifindex);
    ep.mac = podMac(ep.ip);
    ep.node_mac = hostVethMac(ep.ip);
  }
}

}  // namespace membrane::dataplane
