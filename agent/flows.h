// SPDX-License-Identifier: Apache-2.0
// Flows: the datapath's ring-buffer events (bpf/include/events.h) turned into Hubble flows
// (flow.Flow of agent/proto/flow/flow.proto).
//
// Two steps, so the path that must keep up with the datapath never allocates:
//  1. decode (reader thread, per event): the 64-byte record is copied into a FlowRecord
//     with its wall-clock time and the generation of the FlowContext in force, and batches
//     of records go into the FlowRing (fixed capacity, oldest overwritten: a slow consumer
//     never stalls the reader, and the reader never stalls the datapath);
//  2. materialise (a consumer, per flow read): toFlow() enriches a record with the names
//     the FlowContext of its generation holds (pods, identities' labels, the deciding rule
//     with its manifest file:line).
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/config.h"
#include "agent/state.h"
#include "dataplane/abi.h"
#include "flow/flow.pb.h"

namespace membrane::dataplane {
class Datapath;
class IdentityStabilizer;
}  // namespace membrane::dataplane

namespace membrane::agent {

struct DesiredModel;
class FlowStats;

// What flows are enriched with: the desired state a reconcile applied. Immutable once
// published; records name it by generation.
struct FlowPod {
  std::string namespace_;
  std::string name;
  std::string workload_kind;  // "Deployment", ...; empty for a bare pod
  std::string workload_name;
};
struct FlowIdentity {
  std::string namespace_;           // io.kubernetes.pod.namespace, empty for others
  std::vector<std::string> labels;  // "k8s:app=web", "reserved:world", sorted
};
struct FlowRule {
  std::string kind;  // "CiliumNetworkPolicy", ...
  std::string namespace_;
  std::string name;
  std::string path;  // "spec.ingress[0]"
  std::string file;  // the manifest
  uint32_t line = 0;
};
struct FlowContext {
  uint64_t generation = 0;  // set by FlowRing::publish()
  std::string node_name;
  std::string cluster_name;
  std::unordered_map<uint32_t, FlowPod> pods;             // by address, host order
  std::unordered_map<uint32_t, FlowIdentity> identities;  // by datapath identity number
  std::vector<FlowRule> rules;                            // index = policy cookie - 1
};

// The context of an applied desired state (identity numbers as the maps hold them).
std::shared_ptr<FlowContext> buildFlowContext(const AgentConfig& config, const DesiredModel& m,
                                              const dataplane::IdentityStabilizer& ids);

// One ring entry. kind Flow: `ev` is the datapath's record; kind Lost: `lost` events the
// datapath could not write (its ring buffer was full) since the previous Lost record.
// kind L7: `l7` is a flow the L7 proxy's access log gave (agent/l7_flows.h), already whole.
struct FlowRecord {
  enum class Kind : uint8_t { Flow, Lost, L7 };
  dataplane::FlowEvent ev{};
  std::shared_ptr<const flow::Flow> l7;  // kind L7 only
  int64_t time_ns = 0;                   // wall clock, ns since the Unix epoch
  uint64_t seq = 0;      // position in this agent's sequence, from 1; set by the ring
  uint64_t context = 0;  // FlowContext generation in force when decoded
  uint64_t lost = 0;
  Kind kind = Kind::Flow;
};

// Monotonic (bpf_ktime_get_ns) to wall-clock time, re-anchored once per batch.
class FlowDecoder {
 public:
  void anchor();  // reads both clocks
  void decode(const dataplane::FlowEvent& ev, uint64_t context, FlowRecord& out) const {
    out.ev = ev;
    out.time_ns = static_cast<int64_t>(ev.timestamp_ns) + offset_ns_;
    out.context = context;
    out.lost = 0;
    out.kind = FlowRecord::Kind::Flow;
  }

 private:
  int64_t offset_ns_ = 0;  // realtime - monotonic
};

// The last `capacity` records (Hubble's default 4095), overwritten oldest first. One writer
// (the reader thread), any number of readers; the writer holds the lock once per batch.
class FlowRing {
 public:
  explicit FlowRing(uint32_t capacity);

  void append(std::span<FlowRecord> batch);  // assigns seq
  // Publishes a context; records decoded afterwards refer to it. Contexts no record in the
  // ring refers to any more are released.
  void publish(std::shared_ptr<FlowContext> ctx);
  uint64_t currentContext() const;
  std::shared_ptr<const FlowContext> context(uint64_t generation) const;

  struct Slice {
    std::vector<FlowRecord> records;  // in sequence order
    uint64_t overwritten = 0;         // records between `from` and the first one, lost
    uint64_t next = 0;                // the seq to ask for next
  };
  // Records with seq >= from that the ring still holds (from = 0: the oldest held).
  Slice read(uint64_t from) const;
  // Waits until a record with seq >= next exists, or `timeout` passes. False on timeout.
  bool wait(uint64_t next, std::chrono::milliseconds timeout) const;

  uint32_t capacity() const { return static_cast<uint32_t>(buf_.size()); }
  uint64_t size() const;  // records held
  uint64_t seen() const;  // records ever appended
  void wakeAll() const;   // shutdown: wakes every waiter

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<FlowRecord> buf_;
  uint64_t next_seq_ = 1;
  uint64_t generation_ = 0;
  std::map<uint64_t, std::shared_ptr<const FlowContext>> contexts_;
};

// The Hubble flow of a Flow record. `ctx` may be null (no names then).
void toFlow(const FlowRecord& r, const FlowContext* ctx, flow::Flow& out);
// An L7 flow (the proxy's record: addresses and identities) gets the pods, namespaces,
// labels and workloads of `ctx`, as toFlow() gives datapath flows.
void enrichL7Flow(const FlowContext* ctx, flow::Flow& f);
// Hubble's LostEvent of a Lost record.
void toLostEvent(const FlowRecord& r, flow::LostEvent& out);

// The reader's work per event: decode into a fixed batch, count for the metrics, hand full
// batches to the ring (one lock per batch). No allocation.
class FlowBatcher {
 public:
  FlowBatcher(FlowRing& ring, FlowStats* stats) : ring_(ring), stats_(stats) {}
  void begin();  // before each poll: the context in force, the clock anchor
  void add(const dataplane::FlowEvent& ev);
  void flush();

 private:
  static constexpr size_t kBatch = 256;
  FlowRing& ring_;
  FlowStats* stats_;
  std::array<FlowRecord, kBatch> batch_;
  size_t n_ = 0;
  uint64_t context_ = 0;
  FlowDecoder decoder_;
};

// Reads the datapath's ring buffer on a thread of its own into `ring`, in batches.
class FlowReader {
 public:
  // `stats` (optional) counts every event for the metrics (metrics.h).
  static Result<std::unique_ptr<FlowReader>> start(dataplane::Datapath& dp, FlowRing& ring,
                                                   FlowStats* stats = nullptr);
  ~FlowReader();  // stops and joins
  FlowReader(const FlowReader&) = delete;
  FlowReader& operator=(const FlowReader&) = delete;

 private:
  struct Impl;
  explicit FlowReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace membrane::agent
