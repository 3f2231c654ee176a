// SPDX-License-Identifier: Apache-2.0
// Service (kube-proxy replacement) writer: the datapath's view of services, written into the
// lb maps of bpf/include/lb.h. Applies a desired ServiceState as a difference against what it
// last wrote (read back from the maps on first use, so a restart reuses the service and
// backend ids already in the kernel) and orders its writes so that a packet never sees a live
// service without a backend: backends first, then a new Maglev table (swapped in whole), then
// the backend slots, then the service's master entry; stale slots, services, backends turning
// terminating and removed backends last.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dataplane/abi.h"
#include "dataplane/map.h"
#include "dataplane/result.h"

namespace membrane::dataplane {

enum class LbBackendState : uint8_t { Active = 0, Terminating = 1 };
enum class LbAlgorithm : uint8_t {
  Random = MEMBRANE_LB_ALG_RANDOM,
  Maglev = MEMBRANE_LB_ALG_MAGLEV
};

// Addresses and ports in host order (10.0.0.1 = 0x0A000001), as IpcacheWriter's.
struct LbFrontend {
  uint32_t vip = 0;
  uint16_t port = 0;
  uint8_t proto = 6;  // IPPROTO_TCP or IPPROTO_UDP
  auto operator<=>(const LbFrontend&) const = default;
  std::string str() const;  // "10.96.0.10:80/TCP"
};

struct LbBackend {
  uint32_t ip = 0;
  uint16_t port = 0;
  LbBackendState state = LbBackendState::Active;
  std::string node;  // reported only (the datapath routes by the ipcache)
  bool operator==(const LbBackend&) const = default;
};

struct LbServiceSpec {
  std::vector<LbBackend> backends;
  LbAlgorithm algorithm = LbAlgorithm::Random;
  uint32_t affinity_timeout_s = 0;  // sessionAffinity ClientIP when > 0
  bool operator==(const LbServiceSpec&) const = default;
};

using ServiceState = std::map<LbFrontend, LbServiceSpec>;

std::string ipv4String(uint32_t host_order);

// Where Maglev inner tables come from and how they are installed (HASH_OF_MAPS in the kernel).
class LbMaglevStore {
 public:
  virtual ~LbMaglevStore() = default;
  virtual Result<std::shared_ptr<RawMap>> createInner() = 0;
  // Atomically points service `rev_nat`'s table at `inner`.
  virtual Status install(uint16_t rev_nat, const std::shared_ptr<RawMap>& inner) = 0;
  virtual Status uninstall(uint16_t rev_nat) = 0;
  // nullptr when none is installed.
  virtual Result<std::shared_ptr<RawMap>> installed(uint16_t rev_nat) = 0;
};

class KernelLbMaglevStore final : public LbMaglevStore {
 public:
  explicit KernelLbMaglevStore(int outer_fd, uint32_t table_size = MEMBRANE_LB_MAGLEV_TABLE_SIZE)
      : outer_fd_(outer_fd), table_size_(table_size) {}
  Result<std::shared_ptr<RawMap>> createInner() override;
  Status install(uint16_t rev_nat, const std::shared_ptr<RawMap>& inner) override;
  Status uninstall(uint16_t rev_nat) override;
  Result<std::shared_ptr<RawMap>> installed(uint16_t rev_nat) override;
  int outerFd() const { return outer_fd_; }  // the socket-LB programs share it

 private:
  int outer_fd_;
  uint32_t table_size_;
};

// In memory; the observer runs after every install / uninstall (inner maps are FakeMaps with
// their own observers).
class FakeLbMaglevStore final : public LbMaglevStore {
 public:
  explicit FakeLbMaglevStore(uint32_t table_size) : table_size_(table_size) {}
  Result<std::shared_ptr<RawMap>> createInner() override;
  Status install(uint16_t rev_nat, const std::shared_ptr<RawMap>& inner) override;
  Status uninstall(uint16_t rev_nat) override;
  Result<std::shared_ptr<RawMap>> installed(uint16_t rev_nat) override;
  void setObserver(std::function<void()> observer) { observer_ = std::move(observer); }
  const std::map<uint16_t, std::shared_ptr<RawMap>>& tables() const { return slots_; }

 private:
  uint32_t table_size_;
  std::map<uint16_t, std::shared_ptr<RawMap>> slots_;
  std::function<void()> observer_;
};

struct LbMaps {
  RawMap* services = nullptr;  // membrane_lb4_services
  RawMap* backends = nullptr;  // membrane_lb4_backends
  RawMap* rev_nat = nullptr;   // membrane_lb4_reverse_nat
  LbMaglevStore* maglev = nullptr;
  uint32_t maglev_table_size = MEMBRANE_LB_MAGLEV_TABLE_SIZE;  // must match the inner maps
};

struct LbChange {
  std::vector<LbFrontend> upserted;
  std::vector<LbFrontend> removed;
  size_t backends_written = 0;
  size_t backends_removed = 0;
  bool empty() const {
    return upserted.empty() && removed.empty() && backends_written == 0 && backends_removed == 0;
  }
};

class LbWriter {
 public:
  explicit LbWriter(LbMaps maps) : maps_(maps) {}
  // EINVAL, naming the service and field: VIP or port 0, protocol not TCP/UDP, a duplicate
  // backend, backend port 0, more than 65,535 services or backends, Maglev without a store.
  // Nothing is written when validation fails.
  Result<LbChange> apply(const ServiceState& desired);
  // Services with their ACTIVE backends (terminating ones are in no slot), algorithm and
  // affinity, as the kernel maps hold them.
  Result<ServiceState> readBack() const;
  // The ids this writer assigned (tests, events).
  uint16_t revNatOf(const LbFrontend& f) const;
  uint32_t backendIdOf(uint32_t ip, uint16_t port, uint8_t proto) const;

 private:
  struct BackendKey {
    uint32_t ip;
    uint16_t port;
    uint8_t proto;
    auto operator<=>(const BackendKey&) const = default;
  };
  struct Written {  // one service as the maps hold it
    uint16_t rev_nat = 0;
    LbService master{};
    std::vector<uint32_t> slots;  // backend ids of slots 1..count
    bool maglev = false;
    bool operator==(const Written& o) const;
  };

  Status load();
  Status validate(const ServiceState& desired) const;
  // demote = false: new backends and state changes to active; true: active -> terminating.
  Result<std::map<BackendKey, uint8_t>> writeBackends(const ServiceState& desired, LbChange& c,
                                                      bool demote);
  Result<Written> plan(const LbFrontend& f, const LbServiceSpec& s);
  Status writeService(const LbFrontend& f, const Written& w, const LbServiceSpec& s);
  Status removeService(const LbFrontend& f);
  Status removeBackends(const std::map<BackendKey, uint8_t>& keep, LbChange& c);

  LbMaps maps_;
  bool loaded_ = false;
  std::map<LbFrontend, Written> services_;
  std::map<BackendKey, uint32_t> backend_ids_;
  std::map<BackendKey, uint8_t> backend_states_;
  std::set<uint32_t> rev_nat_used_;  // during apply(): ids taken, including new ones
  uint32_t rev_nat_hint_ = 1;
};

LbKey encodeLbKey(const LbFrontend& f, uint16_t slot);

}  // namespace membrane::dataplane
