// SPDX-License-Identifier: Apache-2.0
// Map backends: RawMap is the seam between the writers and the kernel. KernelMap talks to
// a BPF map through its fd; FakeMap keeps the same contents in memory for tests (exact-key
// semantics; LPM tries are only read back, never LPM-looked-up, by the writers).
// TypedMap<K, V> puts the ABI structs on top, so no caller handles void* or byte spans.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dataplane/result.h"

namespace membrane::dataplane {

using Bytes = std::vector<std::byte>;

// Update flags (same values as BPF_ANY / BPF_NOEXIST / BPF_EXIST).
inline constexpr uint64_t kUpdateAny = 0;
inline constexpr uint64_t kUpdateNoExist = 1;
inline constexpr uint64_t kUpdateExist = 2;

class RawMap {
 public:
  virtual ~RawMap() = default;
  virtual std::string name() const = 0;
  virtual uint32_t keySize() const = 0;
  virtual uint32_t valueSize() const = 0;
  // false when the key is absent.
  virtual Result<bool> lookup(std::span<const std::byte> key, std::span<std::byte> value) const = 0;
  virtual Status update(std::span<const std::byte> key, std::span<const std::byte> value,
                        uint64_t flags) = 0;
  // false when the key was absent.
  virtual Result<bool> erase(std::span<const std::byte> key) = 0;
  virtual Result<std::vector<Bytes>> keys() const = 0;
  // Kernel fd, or -1 for in-memory maps.
  virtual int fd() const { return -1; }
};

struct MapSpec {
  std::string name;
  uint32_t type = 0;  // BPF_MAP_TYPE_*
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t flags = 0;
};

class KernelMap final : public RawMap {
 public:
  // Takes ownership of `fd` when `owned`.
  KernelMap(int fd, bool owned);
  ~KernelMap() override;
  KernelMap(const KernelMap&) = delete;
  KernelMap& operator=(const KernelMap&) = delete;

  static Result<std::unique_ptr<KernelMap>> create(const MapSpec& spec);
  static Result<std::unique_ptr<KernelMap>> fromId(uint32_t id);

  std::string name() const override { return name_; }
  uint32_t keySize() const override { return key_size_; }
  uint32_t valueSize() const override { return value_size_; }
  uint32_t id() const { return id_; }
  Result<bool> lookup(std::span<const std::byte> key, std::span<std::byte> value) const override;
  Status update(std::span<const std::byte> key, std::span<const std::byte> value,
                uint64_t flags) override;
  Result<bool> erase(std::span<const std::byte> key) override;
  Result<std::vector<Bytes>> keys() const override;
  int fd() const override { return fd_; }
  // Runs after every successful update or erase; its error becomes the call's. The datapath
  // bumps membrane_revision here for maps a verdict depends on (ipcache, endpoints).
  void setAfterWrite(std::function<Status()> hook) { after_write_ = std::move(hook); }

 private:
  int fd_;
  bool owned_;
  std::function<Status()> after_write_;
  std::string name_;
  uint32_t key_size_ = 0;
  uint32_t value_size_ = 0;
  uint32_t id_ = 0;
};

// Updates and deletes of kernel maps by this process, by map name (as the kernel reports it),
// operation ("update" / "delete") and outcome ("success" / "fail"): the agent exports them
// as cilium_bpf_map_ops_total. A delete of an absent key counts as a success.
struct MapOpCount {
  std::string map_name;
  std::string operation;
  std::string outcome;
  uint64_t count = 0;
};
std::vector<MapOpCount> mapOpCounts();

class FakeMap final : public RawMap {
 public:
  FakeMap(std::string name, uint32_t key_size, uint32_t value_size, uint32_t max_entries);

  std::string name() const override { return name_; }
  uint32_t keySize() const override { return key_size_; }
  uint32_t valueSize() const override { return value_size_; }
  Result<bool> lookup(std::span<const std::byte> key, std::span<std::byte> value) const override;
  Status update(std::span<const std::byte> key, std::span<const std::byte> value,
                uint64_t flags) override;
  Result<bool> erase(std::span<const std::byte> key) override;
  Result<std::vector<Bytes>> keys() const override;

  // Called after every successful mutation (tests check intermediate states here).
  void setObserver(std::function<void()> observer) { observer_ = std::move(observer); }
  // Next mutation fails with `code` (fault injection).
  void failNextMutation(int code) { fail_next_ = code; }
  size_t mutations() const { return mutations_; }
  const std::map<Bytes, Bytes>& contents() const { return contents_; }

 private:
  Status checkSizes(size_t key, size_t value) const;
  void mutated();

  std::string name_;
  uint32_t key_size_;
  uint32_t value_size_;
  uint32_t max_entries_;
  std::map<Bytes, Bytes> contents_;
  std::function<void()> observer_;
  int fail_next_ = 0;
  size_t mutations_ = 0;
};

template <typename T>
std::span<const std::byte> asBytes(const T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  return std::as_bytes(std::span<const T, 1>(&v, 1));
}

// A map whose keys are K and values V (ABI structs). Sizes are checked once, at wrap().
template <typename K, typename V>
class TypedMap {
  static_assert(std::is_trivially_copyable_v<K> && std::is_trivially_copyable_v<V>);

 public:
  static Result<TypedMap> wrap(RawMap& map) {
    if (map.keySize() != sizeof(K) || map.valueSize() != sizeof(V)) {
      return Error{.code = EINVAL,
                   .context = "map " + map.name() + ": key/value size " +
                              std::to_string(map.keySize()) + "/" +
                              std::to_string(map.valueSize()) + ", expected " +
                              std::to_string(sizeof(K)) + "/" + std::to_string(sizeof(V))};
    }
    return TypedMap(map);
  }

  Result<std::optional<V>> lookup(const K& key) const {
    V value{};
    auto found = map_->lookup(asBytes(key), std::as_writable_bytes(std::span<V, 1>(&value, 1)));
    if (!found) return found.error();
    if (!*found) return std::optional<V>{};
    return std::optional<V>{value};
  }
  Status update(const K& key, const V& value, uint64_t flags = kUpdateAny) {
    return map_->update(asBytes(key), asBytes(value), flags);
  }
  Result<bool> erase(const K& key) { return map_->erase(asBytes(key)); }
  Result<std::vector<std::pair<K, V>>> entries() const {
    auto keys = map_->keys();
    if (!keys) return keys.error();
    std::vector<std::pair<K, V>> out;
    out.reserve(keys->size());
    for (const Bytes& raw : *keys) {
      K key{};
      std::memcpy(&key, raw.data(), sizeof(K));
      auto value = lookup(key);
      if (!value) return value.error();
      if (*value) out.emplace_back(key, **value);  // deleted concurrently: skip
    }
    return out;
  }
  RawMap& raw() const { return *map_; }

 private:
  explicit TypedMap(RawMap& map) : map_(&map) {}
  RawMap* map_;
};

}  // namespace membrane::dataplane
