// SPDX-License-Identifier: Apache-2.0
#include "agent/state.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/ip.h"

namespace membrane::agent {

Status writeFileAtomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return dataplane::errnoError(errno, "create " + tmp);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      close(fd);
      unlink(tmp.c_str());
      return dataplane::errnoError(e, "write " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    const int e = errno;
    unlink(tmp.c_str());
    return dataplane::errnoError(e, "sync " + tmp);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    unlink(tmp.c_str());
    return dataplane::errnoError(e, "rename " + tmp + " to " + path);
  }
  return {};
}

Result<std::optional<std::string>> readFileIfExists(const std::string& path) {
  std::ifstream f(path);
  if (!f) {
    if (errno == ENOENT) return std::optional<std::string>();
    return dataplane::errnoError(errno, "read " + path);
  }
  std::ostringstream s;
  s << f.rdbuf();
  return std::optional<std::string>(s.str());
}

// --- IPAM ----------------------------------------------------------------------------------

Result<Ipam> Ipam::open(const std::string& path, uint32_t cidr, uint8_t len, bool outside_ok) {
  Ipam ipam;
  ipam.path_ = path;
  ipam.cidr_ = cidr;
  ipam.len_ = len;
  ipam.outside_ok_ = outside_ok;
  auto text = readFileIfExists(path);
  if (!text) return text.error();
  if (!*text) return ipam;
  try {
    auto j = nlohmann::json::parse(**text);
    ipam.next_ = j.value("next", 0u);
    for (const auto& [ip, owner] : j.at("leases").items()) {
      auto a = model::parseIpv4(ip);
      if (!a || !ipam.requestable(*a)) {
        return Error{.code = EINVAL,
                     .context = path + ": lease " + ip + " is outside the pod CIDR " +
                                model::formatIpv4(cidr) + "/" + std::to_string(len) +
                                " (was podCIDR changed? remove the lease or restore podCIDR)"};
      }
      ipam.by_ip_[*a] = owner.get<std::string>();
    }
  } catch (const nlohmann::json::exception& e) {
    return Error{.code = EINVAL, .context = path + ": " + e.what()};
  }
  return ipam;
}

bool Ipam::usable(uint32_t ip) const {
  const uint32_t mask = len_ == 0 ? 0 : ~0u << (32 - len_);
  if ((ip & mask) != cidr_) return false;
  const uint32_t host = ip & ~mask;
  return host > 1 && host != ~mask;  // not the network, .1 (the node) or broadcast
}

bool Ipam::requestable(uint32_t ip) const {
  if (usable(ip)) return true;
  const uint32_t mask = len_ == 0 ? 0 : ~0u << (32 - len_);
  // Outside the pool only when allowed, and never an address of the pool's own range
  // (network, node, broadcast).
  return outside_ok_ && (ip & mask) != cidr_ && ip != 0 && ip != ~0u;
}

size_t Ipam::capacity() const {
  const uint64_t size = uint64_t{1} << (32 - len_);
  return size > 3 ? static_cast<size_t>(size - 3) : 0;
}

size_t Ipam::available() const {
  size_t in_pool = 0;
  for (const auto& [ip, owner] : by_ip_) in_pool += usable(ip) ? 1 : 0;
  return capacity() - std::min(capacity(), in_pool);
}

std::optional<uint32_t> Ipam::addressOf(const std::string& owner) const {
  for (const auto& [ip, o] : by_ip_) {
    if (o == owner) return ip;
  }
  return std::nullopt;
}

Result<uint32_t> Ipam::allocate(const std::string& owner, uint32_t requested) {
  if (auto have = addressOf(owner)) {
    if (requested == 0 || requested == *have) return *have;
    return Error{.code = EADDRINUSE,
                 .context = owner + " already holds " + model::formatIpv4(*have)};
  }
  uint32_t pick = 0;
  if (requested != 0) {
    if (!requestable(requested)) {
      return Error{.code = EINVAL,
                   .context = model::formatIpv4(requested) + " is not a usable address of " +
                              model::formatIpv4(cidr_) + "/" + std::to_string(len_)};
    }
    if (auto it = by_ip_.find(requested); it != by_ip_.end()) {
      return Error{.code = EADDRINUSE,
                   .context = model::formatIpv4(requested) + " is held by " + it->second};
    }
    pick = requested;
  } else {
    const uint64_t size = uint64_t{1} << (32 - len_);
    for (uint64_t k = 0; k < size && pick == 0; ++k) {
      const uint32_t ip = cidr_ + static_cast<uint32_t>((next_ + k) % size);
      if (usable(ip) && !by_ip_.count(ip)) pick = ip;
    }
    if (pick == 0) {
      return Error{.code = ENOSPC,
                   .context = "pod CIDR " + model::formatIpv4(cidr_) + "/" + std::to_string(len_) +
                              " is exhausted (" + std::to_string(by_ip_.size()) +
                              " addresses allocated)"};
    }
    next_ = pick - cidr_ + 1;
  }
  by_ip_[pick] = owner;
  if (auto s = save(); !s) {
    by_ip_.erase(pick);
    return s.error();
  }
  return pick;
}

Status Ipam::release(const std::string& owner) {
  auto have = addressOf(owner);
  if (!have) return {};
  by_ip_.erase(*have);
  if (auto s = save(); !s) {
    by_ip_[*have] = owner;
    return s;
  }
  return {};
}

Status Ipam::save() const {
  nlohmann::json j;
  j["cidr"] = model::formatIpv4(cidr_) + "/" + std::to_string(len_);
  j["next"] = next_;
  j["leases"] = nlohmann::json::object();
  for (const auto& [ip, owner] : by_ip_) j["leases"][model::formatIpv4(ip)] = owner;
  return writeFileAtomic(path_, j.dump(1) + "\n");
}

}  // namespace membrane::agent
