// SPDX-License-Identifier: Apache-2.0
// The loaded datapath: one RAII owner of the membrane_lxc skeleton (programs + maps),
// configured through DatapathConfig before load (const volatile knobs, map sizes, pinning),
// plus tc attachment and BPF_PROG_TEST_RUN.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/abi.h"
#include "dataplane/lb_writer.h"
#include "dataplane/map.h"
#include "dataplane/policy_writer.h"
#include "dataplane/result.h"

struct membrane_lxc;
struct baseline;

namespace membrane::dataplane {

struct DatapathConfig {
  // Events: every drop (when drop_events), and forwarded packets per trace_forward.
  // MEMBRANE_TRACE_* (bpf/include/events.h); monitorAggregation() maps Cilium's level names.
  uint8_t trace_forward = MEMBRANE_TRACE_NEW;
  bool drop_events = true;
  bool event_wakeup = true;  // false: BPF_RB_NO_WAKEUP, the reader must busy-poll
  bool anti_spoof = true;    // check the endpoint's ifindex
  bool policy_cache = true;  // memoise policy lookups per (policy generation, peer, port)
  // Node-wide policy audit mode: policy drops pass and are reported as AUDIT.
  bool policy_audit = false;
  // Conntrack timeouts, seconds (Cilium's defaults).
  uint32_t ct_timeout_tcp_syn_s = 60;
  uint32_t ct_timeout_tcp_s = 21600;
  uint32_t ct_timeout_tcp_close_s = 10;
  uint32_t ct_timeout_any_s = 60;
  // Overlay: the node's VXLAN device (external mode) in the node's namespace; 0 = native
  // routing. tunnel_mac is the MAC of every node's VXLAN device (inner destination MAC).
  uint32_t tunnel_ifindex = 0;
  // Benchmarks only: stop after stage N (MEMBRANE_STAGE_*, bpf/lib/common.h) and pass the
  // packet; 0 = the whole pipeline. Never set it on a node: it forwards without policy.
  uint8_t profile_stop = 0;
  std::array<uint8_t, 6> tunnel_mac{};
  // Map sizes (entries; events in bytes, a power of two multiple of the page size).
  uint32_t policy_map_size = MEMBRANE_POLICY_MAP_SIZE;
  uint32_t max_endpoints = MEMBRANE_MAX_ENDPOINTS;
  uint32_t ipcache_size = MEMBRANE_IPCACHE_MAP_SIZE;
  uint32_t endpoints_size = MEMBRANE_ENDPOINTS_MAP_SIZE;
  uint32_t ct_size = MEMBRANE_CT_MAP_SIZE;
  uint32_t events_bytes = MEMBRANE_EVENTS_SIZE;
  uint32_t policy_cache_size = MEMBRANE_POLICY_CACHE_SIZE;
  // Maglev lookup table size per Maglev service (a prime, at least 7; 65,537 entries of a
  // table take 256 KiB). Every table the agent builds has this size (LbMaps).
  uint32_t maglev_table_size = MEMBRANE_LB_MAGLEV_TABLE_SIZE;
  // Pinning: empty = maps live as long as this process. Otherwise maps are pinned (and
  // reused on the next load) under <bpffs_root>/<pin_subdir>; bpffs is mounted at
  // bpffs_root when that directory is not on a bpffs already.
  std::string bpffs_root;
  std::string pin_subdir = "membrane";

  Status validate() const;
  std::string pinDir() const { return bpffs_root + "/" + pin_subdir; }
};

// Cilium's monitor aggregation levels as trace_forward values: "none" -> ALL (every forwarded
// packet), "low" -> FORWARD (no replies), "medium" -> FLAGS (first packet and new TCP
// SYN/FIN/RST per direction), "maximum" -> NEW (first packet only, the default). Drops are
// reported at every level.
Result<uint8_t> monitorAggregation(std::string_view level);
std::string monitorAggregationName(uint8_t trace_forward);

// Mounts bpffs at `dir` unless `dir` already is on a bpffs (creating it if needed).
Status ensureBpffs(const std::string& dir);

struct TestRunResult {
  int retval = -1;           // TC_ACT_OK 0, TC_ACT_SHOT 2
  uint32_t duration_ns = 0;  // average per repetition
  std::vector<uint8_t> data_out;
  uint32_t mark = 0;  // skb->mark after the run
};
// BPF_PROG_TEST_RUN of a tc program on `packet` (an Ethernet frame).
Result<TestRunResult> testRunTc(int prog_fd, std::span<const uint8_t> packet, uint32_t repeat = 1,
                                uint32_t mark_in = 0);

enum class Program { FromContainer, ToContainer, FromOverlay };

// Both programs attached to one interface's clsact hook: from-container on ingress,
// to-container on egress. Detaches in the network namespace it was created in.
class TcAttachment {
 public:
  ~TcAttachment();
  TcAttachment(const TcAttachment&) = delete;
  TcAttachment& operator=(const TcAttachment&) = delete;
  int ifindex() const { return ifindex_; }

 private:
  friend class Datapath;
  TcAttachment() = default;
  void detach();

  int ifindex_ = 0;
  int netns_fd_ = -1;
  bool created_hook_ = false;
  uint32_t handle_ = 0;
  uint32_t priority_ = 0;
  bool egress_ = true;  // false: only the ingress hook carries a program
};

class Datapath {
 public:
  static Result<std::unique_ptr<Datapath>> load(const DatapathConfig& config);
  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  const DatapathConfig& config() const { return config_; }
  int programFd(Program p) const;
  Result<TestRunResult> testRun(Program p, std::span<const uint8_t> packet, uint32_t repeat = 1,
                                uint32_t mark_in = 0) const {
    return testRunTc(programFd(p), packet, repeat, mark_in);
  }
  // Attaches both programs to `ifindex` (in the calling thread's network namespace).
  Result<std::unique_ptr<TcAttachment>> attach(int ifindex) const;
  // Attaches from-overlay to the tc ingress of the node's VXLAN device `ifindex`.
  Result<std::unique_ptr<TcAttachment>> attachOverlay(int ifindex) const;

  KernelMap& ipcache() { return *ipcache_; }
  KernelMap& endpoints() { return *endpoints_; }
  KernelMap& conntrack() { return *ct_; }
  KernelMap& policyOuter() { return *policy_; }
  KernelMap& proxyPorts() { return *proxy_ports_; }  // empty: every L7 redirect drops
  PolicyMapStore& policyStore() { return *policy_store_; }
  // Services (bpf/include/lb.h): what LbWriter writes.
  LbMaps lbMaps();
  KernelMap& lbAffinity() { return *lb_affinity_; }
  int metricsFd() const;
  int eventsFd() const;
  uint64_t eventsLost() const;
  // membrane_revision: bumped by every policy swap and ipcache / endpoints write.
  Result<uint32_t> revision() const;
  // Removes the pins (maps die with their last user).
  Status unpin();

 private:
  Datapath() = default;

  DatapathConfig config_;
  membrane_lxc* skel_ = nullptr;
  std::unique_ptr<KernelMap> ipcache_, endpoints_, ct_, policy_, proxy_ports_;
  std::unique_ptr<KernelPolicyMapStore> policy_store_;
  std::unique_ptr<KernelMap> lb_services_, lb_backends_, lb_rev_nat_, lb_affinity_;
  std::unique_ptr<KernelLbMaglevStore> lb_maglev_;
};

// The empty tc program benchmarks compare against.
class BaselineProgram {
 public:
  static Result<std::unique_ptr<BaselineProgram>> load();
  ~BaselineProgram();
  BaselineProgram(const BaselineProgram&) = delete;
  BaselineProgram& operator=(const BaselineProgram&) = delete;
  int fd() const;

 private:
  BaselineProgram() = default;
  baseline* skel_ = nullptr;
};

}  // namespace membrane::dataplane
