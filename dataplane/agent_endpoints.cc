// SPDX-License-Identifier: Apache-2.0
#include "dataplane/agent_endpoints.h"

#include <fcntl.h>
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

// The node's side over rtnetlink, from a thread in the node's namespace: the veth pair
// with its peer created directly in the pod's namespace (IFLA_NET_NS_FD), the host side
// up, the /32 route and the permanent neighbour entry towards the pod.
static Status wireNodeSide(const std::string& node_netns, const std::vector<PodNet>& pods) {
  Status result;
  auto joined = runInNetns(node_netns, [&] {
    auto nl = Rtnl::open();
    if (!nl) {
      result = nl.error();
      return;
    }
    for (const auto& p : pods) {
      const std::string lxc = hostVethName(p.ip);
      const int fd = open(("/run/netns/" + p.netns).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        result = errnoError(errno, "open netns " + p.netns);
        return;
      }
      Status s = nl->createVeth({.name = lxc,
                                 .mac = hostVethMac(p.ip),
                                 .peer_name = "eth0",
                                 .peer_mac = podMac(p.ip),
                                 .peer_netns_fd = fd,
                                 .mtu = kPodMtu});
      close(fd);
      const int idx = static_cast<int>(if_nametoindex(lxc.c_str()));
      if (s && idx == 0) s = errnoError(ENODEV, "no " + lxc + " after creating it");
      if (s) s = nl->linkUp(idx);
      if (s) s = nl->addRoute(p.ip, 32, 0, idx);
      if (s) s = nl->addNeighbour(idx, p.ip, podMac(p.ip));
      if (!s) {
        result = Error{.code = s.error().code,
                       .context = s.error().context + " (" + lxc + " in " + node_netns + ")"};
        return;
      }
    }
  });
  if (!joined) return joined;
  return result;
}

Status EndpointManager::add(const std::vector<PodNet>& pods) {
  if (auto s = wireNodeSide(node_netns_, pods); !s) return s;
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
  Status result;
  auto joined = runInNetns(node_netns_, [&] {
    const int idx = static_cast<int>(if_nametoindex(lxc.c_str()));
    if (idx == 0) return;
    auto nl = Rtnl::open();
    if (!nl) {
      result = nl.error();
      return;
    }
    if (auto s = nl->deleteLink(idx); !s && s.error().code != ENODEV) result = s;
  });
  if (!joined) return joined;
  return result;
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
