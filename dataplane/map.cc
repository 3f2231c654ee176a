// SPDX-License-Identifier: Apache-2.0
#include "dataplane/map.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <tuple>

namespace membrane::dataplane {

namespace {

struct MapOps {
  std::mutex mu;
  std::map<std::tuple<std::string, const char*, bool>, uint64_t> counts;
};

MapOps& mapOps() {
  static MapOps ops;
  return ops;
}

void countOp(const std::string& map, const char* op, bool ok) {
  auto& m = mapOps();
  std::lock_guard lock(m.mu);
  ++m.counts[{map, op, ok}];
}

}  // namespace

std::vector<MapOpCount> mapOpCounts() {
  auto& m = mapOps();
  std::lock_guard lock(m.mu);
  std::vector<MapOpCount> out;
  for (const auto& [k, n] : m.counts) {
    out.push_back({.map_name = std::get<0>(k),
                   .operation = std::get<1>(k),
                   .outcome = std::get<2>(k) ? "success" : "fail",
                   .count = n});
  }
  return out;
}

KernelMap::KernelMap(int fd, bool owned) : fd_(fd), owned_(owned) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd_, &info, &len) == 0) {
    name_ = info.name;
    key_size_ = info.key_size;
    value_size_ = info.value_size;
    id_ = info.id;
  }
}

KernelMap::~KernelMap() {
  if (owned_ && fd_ >= 0) close(fd_);
}

Result<std::unique_ptr<KernelMap>> KernelMap::create(const MapSpec& spec) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = spec.flags);
  int fd = bpf_map_create(static_cast<bpf_map_type>(spec.type), spec.name.c_str(), spec.key_size,
                          spec.value_size, spec.max_entries, &opts);
  if (fd < 0) return errnoError(errno, "create map " + spec.name);
  return std::make_unique<KernelMap>(fd, true);
}

Result<std::unique_ptr<KernelMap>> KernelMap::fromId(uint32_t id) {
  int fd = bpf_map_get_fd_by_id(id);
  if (fd < 0) return errnoError(errno, "open map id " + std::to_string(id));
  return std::make_unique<KernelMap>(fd, true);
}

Result<bool> KernelMap::lookup(std::span<const std::byte> key, std::span<std::byte> value) const {
  if (bpf_map_lookup_elem(fd_, key.data(), value.data()) == 0) return true;
  if (errno == ENOENT) return false;
  return errnoError(errno, "lookup in " + name_);
}

Status KernelMap::update(std::span<const std::byte> key, std::span<const std::byte> value,
                         uint64_t flags) {
  if (bpf_map_update_elem(fd_, key.data(), value.data(), flags) != 0) {
    const int err = errno;
    countOp(name_, "update", false);
    return errnoError(err, "update " + name_);
  }
  countOp(name_, "update", true);
  return after_write_ ? after_write_() : Status{};
}

Result<bool> KernelMap::erase(std::span<const std::byte> key) {
  if (bpf_map_delete_elem(fd_, key.data()) != 0) {
    const int err = errno;
    countOp(name_, "delete", err == ENOENT);
    if (err == ENOENT) return false;
    return errnoError(err, "delete from " + name_);
  }
  countOp(name_, "delete", true);
  if (after_write_) {
    if (auto s = after_write_(); !s) return s.error();
  }
  return true;
}

Result<std::vector<Bytes>> KernelMap::keys() const {
  std::vector<Bytes> out;
  Bytes cur(key_size_), next(key_size_);
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd_, prev, next.data()) == 0) {
    out.push_back(next);
    cur = next;
    prev = cur.data();
  }
  if (errno != ENOENT) return errnoError(errno, "iterate " + name_);
  return out;
}

FakeMap::FakeMap(std::string name, uint32_t key_size, uint32_t value_size, uint32_t max_entries)
    : name_(std::move(name)),
      key_size_(key_size),
      value_size_(value_size),
      max_entries_(max_entries) {}

Status FakeMap::checkSizes(size_t key, size_t value) const {
  if (key != key_size_ || value != value_size_) {
    return Error{.code = EINVAL, .context = "fake map " + name_ + ": wrong key/value size"};
  }
  return {};
}

void FakeMap::mutated() {
  ++mutations_;
  if (observer_) observer_();
}

Result<bool> FakeMap::lookup(std::span<const std::byte> key, std::span<std::byte> value) const {
  if (auto s = checkSizes(key.size(), value.size()); !s) return s.error();
  auto it = contents_.find(Bytes(key.begin(), key.end()));
  if (it == contents_.end()) return false;
  std::memcpy(value.data(), it->second.data(), value_size_);
  return true;
}

Status FakeMap::update(std::span<const std::byte> key, std::span<const std::byte> value,
                       uint64_t flags) {
  if (auto s = checkSizes(key.size(), value.size()); !s) return s;
  if (fail_next_ != 0) {
    int code = std::exchange(fail_next_, 0);
    return errnoError(code, "update " + name_ + " (injected)");
  }
  Bytes k(key.begin(), key.end());
  auto it = contents_.find(k);
  if (flags == kUpdateNoExist && it != contents_.end())
    return errnoError(EEXIST, "update " + name_);
  if (flags == kUpdateExist && it == contents_.end()) return errnoError(ENOENT, "update " + name_);
  if (it == contents_.end() && contents_.size() >= max_entries_) {
    return errnoError(E2BIG, "update " + name_);
  }
  contents_[std::move(k)] = Bytes(value.begin(), value.end());
  mutated();
  return {};
}

Result<bool> FakeMap::erase(std::span<const std::byte> key) {
  if (key.size() != key_size_) return Error{.code = EINVAL, .context = "fake map " + name_};
  if (fail_next_ != 0) {
    int code = std::exchange(fail_next_, 0);
    return errnoError(code, "delete from " + name_ + " (injected)");
  }
  if (contents_.erase(Bytes(key.begin(), key.end())) == 0) return false;
  mutated();
  return true;
}

Result<std::vector<Bytes>> FakeMap::keys() const {
  std::vector<Bytes> out;
  out.reserve(contents_.size());
  for (const auto& [k, v] : contents_) out.push_back(k);
  return out;
}

}  // namespace membrane::dataplane
