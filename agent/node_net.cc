// SPDX-License-Identifier: Apache-2.0
#include "agent/node_net.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <thread>

#include "dataplane/datapath.h"
#include "dataplane/rtnl.h"

namespace membrane::agent {
namespace {

using dataplane::errnoError;
using dataplane::Error;
using dataplane::Rtnl;

// Runs `fn` on a thread that joined the namespace at `path` (the agent's threads stay).
Status inNetns(const std::string& path, const std::function<Status()>& fn) {
  Status out;
  std::thread([&] {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      out = errnoError(errno, "open netns " + path);
      return;
    }
    if (setns(fd, CLONE_NEWNET) != 0) {
      out = errnoError(errno, "join netns " + path);
      close(fd);
      return;
    }
    close(fd);
    out = fn();
  }).join();
  return out;
}

Status withRtnl(const std::function<Status(Rtnl&)>& fn) {
  auto nl = Rtnl::open();
  if (!nl) return nl.error();
  return fn(*nl);
}

Status attachTc(int ifindex, std::initializer_list<std::pair<bpf_tc_attach_point, int>> plan) {
  LIBBPF_OPTS(bpf_tc_hook, hook);
  hook.ifindex = ifindex;
  hook.attach_point = BPF_TC_INGRESS;
  int rc = bpf_tc_hook_create(&hook);  // clsact for both directions
  if (rc != 0 && rc != -EEXIST) {
    return errnoError(-rc, "create clsact on ifindex " + std::to_string(ifindex));
  }
  for (const auto& [point, fd] : plan) {
    hook.attach_point = point;
    LIBBPF_OPTS(bpf_tc_opts, opts);
    opts.prog_fd = fd;
    opts.handle = 1;
    opts.priority = 1;
    opts.flags = BPF_TC_F_REPLACE;  // an agent that restarts swaps its programs in atomically
    rc = bpf_tc_attach(&hook, &opts);
    if (rc != 0) return errnoError(-rc, "attach to ifindex " + std::to_string(ifindex));
  }
  return {};
}

Result<uint32_t> progId(int fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return errnoError(errno, "prog info");
  return info.id;
}

}  // namespace

std::optional<int> KernelNodeNet::linkIndex(const std::string& name) {
  const unsigned idx = if_nametoindex(name.c_str());
  if (idx == 0) return std::nullopt;
  return static_cast<int>(idx);
}

std::optional<int> KernelNodeNet::linkHolding(uint32_t ip) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return std::nullopt;
  std::optional<int> out;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
    if (ntohl(sin->sin_addr.s_addr) == ip) out = static_cast<int>(if_nametoindex(a->ifa_name));
  }
  freeifaddrs(list);
  return out;
}

Status KernelNodeNet::createVeth(const std::string& host, const Mac& host_mac,
                                 const PodInterface& pod) {
  const int nsfd = open(pod.netns.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return errnoError(errno, "open netns " + pod.netns);
  Status s = withRtnl([&](Rtnl& nl) -> Status {
    if (auto c = nl.createVeth({.name = host,
                                .mac = host_mac,
                                .peer_name = pod.ifname,
                                .peer_mac = pod.mac,
                                .peer_netns_fd = nsfd,
                                .mtu = pod.mtu});
        !c) {
      return Error{.code = c.error().code, .context = c.error().context + " " + host};
    }
    auto idx = linkIndex(host);
    if (!idx) return errnoError(ENODEV, "no " + host + " after creating it");
    return nl.linkUp(*idx);
  });
  close(nsfd);
  return s;
}

Status KernelNodeNet::configurePod(const PodInterface& pod) {
  return inNetns(pod.netns, [&]() -> Status {
    return withRtnl([&](Rtnl& nl) -> Status {
      const int lo = static_cast<int>(if_nametoindex("lo"));
      const int dev = static_cast<int>(if_nametoindex(pod.ifname.c_str()));
      if (lo == 0 || dev == 0) return errnoError(ENODEV, "no " + pod.ifname + " in " + pod.netns);
      for (auto step : {nl.linkUp(lo), nl.linkUp(dev, pod.mtu), nl.addAddress(dev, pod.ip, 32),
                        nl.addRoute(kPodGateway, 32, 0, dev), nl.addRoute(0, 0, kPodGateway, dev),
                        nl.addNeighbour(dev, kPodGateway, pod.gateway_mac)}) {
        if (!step) {
          return Error{.code = step.error().code,
                       .context = step.error().context + " in " + pod.netns};
        }
      }
      return {};
    });
  });
}

Status KernelNodeNet::checkPod(const PodInterface& pod) {
  return inNetns(pod.netns, [&]() -> Status {
    if (if_nametoindex(pod.ifname.c_str()) == 0) {
      return errnoError(ENODEV, "no " + pod.ifname + " in " + pod.netns);
    }
    if (linkHolding(pod.ip) != std::optional<int>(if_nametoindex(pod.ifname.c_str()))) {
      return Error{.code = EADDRNOTAVAIL,
                   .context = pod.ifname + " in " + pod.netns + " does not hold its address"};
    }
    return {};
  });
}

Status KernelNodeNet::deleteLink(const std::string& name) {
  auto idx = linkIndex(name);
  if (!idx) return {};
  return withRtnl([&](Rtnl& nl) -> Status {
    auto s = nl.deleteLink(*idx);
    if (!s && s.error().code != ENODEV) return s;
    return {};
  });
}

Status KernelNodeNet::replaceRoute(uint32_t dst, uint8_t len, uint32_t via, int ifindex) {
  return withRtnl([&](Rtnl& nl) { return nl.addRoute(dst, len, via, ifindex); });
}

Status KernelNodeNet::deleteRoute(uint32_t dst, uint8_t len) {
  return withRtnl([&](Rtnl& nl) -> Status {
    auto s = nl.deleteRoute(dst, len);
    if (!s && s.error().code != ESRCH && s.error().code != ENOENT) return s;
    return {};
  });
}

Status KernelNodeNet::replaceNeighbour(int ifindex, uint32_t ip, const Mac& mac) {
  return withRtnl([&](Rtnl& nl) { return nl.addNeighbour(ifindex, ip, mac); });
}

Status KernelNodeNet::createVxlan(const std::string& name, const Mac& mac, uint16_t port,
                                  uint32_t mtu) {
  return withRtnl([&](Rtnl& nl) -> Status {
    if (auto s = nl.createVxlan(name, mac, port, mtu); !s) return s;
    auto idx = linkIndex(name);
    if (!idx) return errnoError(ENODEV, "no " + name + " after creating it");
    return nl.linkUp(*idx);
  });
}

Status KernelNodeNet::attachEndpoint(int ifindex) {
  if (dp_ == nullptr) return Error{.code = EINVAL, .context = "datapath not loaded"};
  return attachTc(ifindex, {{BPF_TC_INGRESS, dp_->programFd(dataplane::Program::FromContainer)},
                            {BPF_TC_EGRESS, dp_->programFd(dataplane::Program::ToContainer)}});
}

Status KernelNodeNet::attachOverlay(int ifindex) {
  if (dp_ == nullptr) return Error{.code = EINVAL, .context = "datapath not loaded"};
  return attachTc(ifindex, {{BPF_TC_INGRESS, dp_->programFd(dataplane::Program::FromOverlay)}});
}

Status KernelNodeNet::checkAttached(int ifindex) {
  if (dp_ == nullptr) return Error{.code = EINVAL, .context = "datapath not loaded"};
  const std::pair<bpf_tc_attach_point, dataplane::Program> want[] = {
      {BPF_TC_INGRESS, dataplane::Program::FromContainer},
      {BPF_TC_EGRESS, dataplane::Program::ToContainer}};
  for (const auto& [point, prog] : want) {
    LIBBPF_OPTS(bpf_tc_hook, hook);
    hook.ifindex = ifindex;
    hook.attach_point = point;
    LIBBPF_OPTS(bpf_tc_opts, opts);
    opts.handle = 1;
    opts.priority = 1;
    if (int rc = bpf_tc_query(&hook, &opts); rc != 0) {
      return errnoError(-rc, "no program attached to ifindex " + std::to_string(ifindex));
    }
    auto id = progId(dp_->programFd(prog));
    if (!id) return id.error();
    if (opts.prog_id != *id) {
      return Error{.code = ESTALE,
                   .context = "ifindex " + std::to_string(ifindex) +
                              " runs another program than this agent's"};
    }
  }
  return {};
}

}  // namespace membrane::agent
