// SPDX-License-Identifier: Apache-2.0
#include "dataplane/agent_endpoints.h"

#include <net/if.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "dataplane/ipcache_writer.h"
#include "dataplane/netns.h"
#include "dataplane/rtnl.h"

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
  // The pod's side over rtnetlink from inside its namespace (no process per pod).
  for (const auto& p : pods) {
    Status st;
    auto joined = runInNetns(p.netns, [&] {
      auto nl = Rtnl::open();
      if (!nl) {
        st = nl.error();
        return;
      }
      const int lo = static_cast<int>(if_nametoindex("lo"));
      const int eth0 = static_cast<int>(if_nametoindex("eth0"));
      if (lo == 0 || eth0 == 0) {
        st = Error{.code = ENODEV, .context = "no eth0 in " + p.netns};
        return;
      }
      for (auto step :
           {nl->linkUp(lo), nl->linkUp(eth0, kPodMtu), nl->addAddress(eth0, p.ip, 32),
            nl->addRoute(kPodGateway, 32, 0, eth0), nl->addRoute(0, 0, kPodGateway, eth0),
            nl->addNeighbour(eth0, kPodGateway, hostVethMac(p.ip))}) {
        if (!step) {
          st = Error{.code = step.error().code, .context = step.error().context + " in " + p.netns};
          return;
        }
      }
    });
    if (!joined) return joined;
    if (!st) return st;
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
