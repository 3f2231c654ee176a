// SPDX-License-Identifier: Apache-2.0
#include "dataplane/sock_lb.h"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include "bpf/membrane_sock.skel.h"

namespace membrane::dataplane {

Result<std::unique_ptr<SocketLb>> SocketLb::load(Datapath& dp) {
  std::unique_ptr<SocketLb> lb(new SocketLb());
  lb->skel_ = membrane_sock__open();
  if (lb->skel_ == nullptr) return errnoError(errno, "open membrane_sock");
  const LbMaps maps = dp.lbMaps();
  auto* services = dynamic_cast<KernelMap*>(maps.services);
  auto* backends = dynamic_cast<KernelMap*>(maps.backends);
  auto* maglev = dynamic_cast<KernelLbMaglevStore*>(maps.maglev);
  if (services == nullptr || backends == nullptr || maglev == nullptr) {
    return Error{.code = EINVAL, .context = "socket LB needs the kernel's service maps"};
  }
  lb->skel_->rodata->cfg_lb_maglev_table_size = maps.maglev_table_size;
  // The same kernel maps as the tc programs: one LbWriter serves both.
  const std::pair<bpf_map*, int> shared[] = {
      {lb->skel_->maps.membrane_lb4_services, services->fd()},
      {lb->skel_->maps.membrane_lb4_backends, backends->fd()},
      {lb->skel_->maps.membrane_lb4_maglev, maglev->outerFd()}};
  for (const auto& [map, fd] : shared) {
    if (int rc = bpf_map__reuse_fd(map, fd); rc != 0) {
      return errnoError(-rc, std::string("share map ") + bpf_map__name(map));
    }
  }
  if (int rc = membrane_sock__load(lb->skel_); rc != 0) {
    return errnoError(-rc, "load membrane_sock");
  }
  return lb;
}

SocketLb::~SocketLb() {
  detach();
  if (skel_ != nullptr) membrane_sock__destroy(skel_);
}

void SocketLb::detach() {
  for (bpf_link* l : links_) bpf_link__destroy(l);
  links_.clear();
}

Status SocketLb::attach(const std::string& cgroup) {
  detach();
  const int fd = ::open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errnoError(errno, "open cgroup " + cgroup);
  bpf_program* progs[] = {skel_->progs.membrane_sock_connect4, skel_->progs.membrane_sock_sendmsg4,
                          skel_->progs.membrane_sock_recvmsg4,
                          skel_->progs.membrane_sock_getpeername4};
  for (bpf_program* p : progs) {
    bpf_link* l = bpf_program__attach_cgroup(p, fd);
    if (l == nullptr) {
      const int err = errno;
      ::close(fd);
      detach();
      return errnoError(err, std::string("attach ") + bpf_program__name(p) + " to " + cgroup);
    }
    links_.push_back(l);
  }
  ::close(fd);
  return {};
}

}  // namespace membrane::dataplane
