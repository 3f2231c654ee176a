// SPDX-License-Identifier: Apache-2.0
#include "dataplane/netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <thread>

#include "dataplane/ipcache_writer.h"

namespace membrane::dataplane {

int runQuiet(const std::string& command) {
  const int rc = std::system((command + " >/dev/null 2>&1").c_str());
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

Status runInNetns(const std::string& ns, const std::function<void()>& fn) {
  Status out;
  std::thread([&] {
    const int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      out = errnoError(errno, "open netns " + ns);
      return;
    }
    if (setns(fd, CLONE_NEWNET) != 0) {
      out = errnoError(errno, "join netns " + ns);
      close(fd);
      return;
    }
    close(fd);
    fn();
  }).join();
  return out;
}

Result<int> socketInNetns(const std::string& ns, int type) {
  int fd = -1;
  int err = 0;
  auto s = runInNetns(ns, [&] {
    fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    err = errno;
  });
  if (!s) return s.error();
  if (fd < 0) return errnoError(err, "socket in " + ns);
  return fd;
}

Result<std::unique_ptr<VethPair>> VethPair::create(const VethPairSpec& spec) {
  std::unique_ptr<VethPair> v(new VethPair());
  v->ns_a_ = spec.prefix + "a";
  v->ns_b_ = spec.prefix + "b";
  v->dev_a_ = spec.prefix + "a";
  v->dev_b_ = spec.prefix + "b";
  if (v->dev_a_.size() >= IFNAMSIZ) {
    v->ns_a_.clear();  // nothing created, nothing to delete
    v->ns_b_.clear();
    return Error{.code = EINVAL, .context = "veth prefix '" + spec.prefix + "' too long"};
  }
  auto fail = [](const std::string& what) { return Error{.code = EIO, .context = what}; };
  for (std::string* ns : {&v->ns_a_, &v->ns_b_}) {
    if (runQuiet("ip netns add " + *ns) != 0) {
      const std::string name = *ns;
      ns->clear();  // not ours: never delete it
      if (ns == &v->ns_a_) v->ns_b_.clear();
      return fail("ip netns add " + name + " (exists already?)");
    }
    const std::string& n = *ns;
    if (spec.disable_ipv6) {
      runQuiet("ip netns exec " + n + " sysctl -qw net.ipv6.conf.all.disable_ipv6=1");
      runQuiet("ip netns exec " + n + " sysctl -qw net.ipv6.conf.default.disable_ipv6=1");
    }
    runQuiet("ip -n " + n + " link set lo up");
  }
  const std::string len = "/" + std::to_string(spec.prefix_len);
  const std::string cmds[] = {
      "ip link add " + v->dev_a_ + " netns " + v->ns_a_ + " type veth peer name " + v->dev_b_ +
          " netns " + v->ns_b_,
      "ip -n " + v->ns_a_ + " addr add " + formatIpv4(spec.addr_a) + len + " dev " + v->dev_a_,
      "ip -n " + v->ns_b_ + " addr add " + formatIpv4(spec.addr_b) + len + " dev " + v->dev_b_,
      "ip -n " + v->ns_a_ + " link set " + v->dev_a_ + " up",
      "ip -n " + v->ns_b_ + " link set " + v->dev_b_ + " up"};
  for (const std::string& c : cmds) {
    if (runQuiet(c) != 0) return fail(c);
  }
  auto sa = runInNetns(
      v->ns_a_, [&] { v->ifindex_a_ = static_cast<int>(if_nametoindex(v->dev_a_.c_str())); });
  auto sb = runInNetns(
      v->ns_b_, [&] { v->ifindex_b_ = static_cast<int>(if_nametoindex(v->dev_b_.c_str())); });
  if (!sa) return sa.error();
  if (!sb) return sb.error();
  if (v->ifindex_a_ <= 0 || v->ifindex_b_ <= 0) return fail("veth ifindex");
  return v;
}

VethPair::~VethPair() {
  // Deleting the namespaces removes the veth pair and whatever was attached to it.
  if (!ns_a_.empty()) runQuiet("ip netns del " + ns_a_);
  if (!ns_b_.empty()) runQuiet("ip netns del " + ns_b_);
}

}  // namespace membrane::dataplane
