// SPDX-License-Identifier: Apache-2.0
#include "agent/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include "dataplane/observe.h"

namespace membrane::agent {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(const char* name, const char* help, MetricType type) {
  return {.name = name, .help = help, .type = type, .metric = {}};
}

void add(MetricFamily& f, std::vector<ClientMetric::Label> labels, double v) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = v;
  } else {
    m.gauge.value = v;
  }
  f.metric.push_back(std::move(m));
}

std::string dirName(uint8_t dir) { return dir == MEMBRANE_DIR_EGRESS ? "EGRESS" : "INGRESS"; }
const char* kProto[] = {"TCP", "UDP", "ICMPv4", "Unknown"};
const char* kFlags[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
const char* kAction[] = {"forwarded", "dropped", "redirected", "audit"};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Cilium's datapath counters (cilium_{forward,drop}_{count,bytes}_total) from
// membrane_metrics, summed over CPUs.
void datapathFamilies(Agent& agent, std::vector<MetricFamily>& out) {
  auto fc =
      family("cilium_forward_count_total", "Packets forwarded, by direction", MetricType::Counter);
  auto fb =
      family("cilium_forward_bytes_total", "Bytes forwarded, by direction", MetricType::Counter);
  auto dc = family("cilium_drop_count_total", "Packets dropped, by reason and direction",
                   MetricType::Counter);
  auto db = family("cilium_drop_bytes_total", "Bytes dropped, by reason and direction",
                   MetricType::Counter);
  auto counters = dataplane::readMetrics(agent.datapath().metricsFd());
  if (counters) {
    for (const auto& c : *counters) {
      const std::string dir = dirName(c.direction);
      if (c.reason == 0) {
        add(fc, {{"direction", dir}}, static_cast<double>(c.packets));
        add(fb, {{"direction", dir}}, static_cast<double>(c.bytes));
      } else {
        const std::string reason(dataplane::dropReasonName(c.reason));
        add(dc, {{"direction", dir}, {"reason", reason}}, static_cast<double>(c.packets));
        add(db, {{"direction", dir}, {"reason", reason}}, static_cast<double>(c.bytes));
      }
    }
  }
  for (auto* f : {&fc, &fb, &dc, &db}) out.push_back(std::move(*f));
}

// Endpoints, identities, policies, map pressure from the agent's status.
void agentFamilies(Agent& agent, uint64_t policies, std::vector<MetricFamily>& out) {
  const auto st = agent.status();
  const auto& c = agent.config();
  auto ep = family("cilium_endpoint", "Endpoints on this node", MetricType::Gauge);
  add(ep, {}, st.value("endpoints", 0.0));
  auto id = family("cilium_identity", "Identities known to this node", MetricType::Gauge);
  add(id, {}, st.value("identities", 0.0));
  auto pol = family("cilium_policy", "Policies loaded (policy objects)", MetricType::Gauge);
  add(pol, {}, static_cast<double>(policies));
  auto pressure = family("cilium_bpf_map_pressure", "Fill of a BPF map: entries / max entries",
                         MetricType::Gauge);
  const auto& maps = st["maps"];
  auto ratio = [&](const char* key, uint32_t max) {
    const double n = maps.value(key, -1.0);
    return n < 0 || max == 0 ? 0.0 : n / max;
  };
  add(pressure, {{"map_name", "membrane_ct4"}}, ratio("conntrack", c.ct_entries));
  add(pressure, {{"map_name", "membrane_ipcache"}}, ratio("ipcache", c.ipcache_entries));
  add(pressure, {{"map_name", "membrane_endpoints"}}, ratio("endpoints", c.max_endpoints));
  auto ops = family("cilium_bpf_map_ops_total",
                    "BPF map updates and deletes by this agent, by map, operation and outcome",
                    MetricType::Counter);
  for (const auto& o : dataplane::mapOpCounts()) {
    add(ops, {{"map_name", o.map_name}, {"operation", o.operation}, {"outcome", o.outcome}},
        static_cast<double>(o.count));
  }
  for (auto* f : {&ep, &id, &pol, &pressure, &ops}) out.push_back(std::move(*f));
}

// Hubble's flow metrics from the reader thread's counters.
void flowFamilies(const FlowStats& s, std::vector<MetricFamily>& out) {
  auto processed = family("hubble_flows_processed_total", "Flows processed, by type and verdict",
                          MetricType::Counter);
  auto drops = family("hubble_drop_total", "Drops, by reason and protocol", MetricType::Counter);
  auto flags = family("hubble_tcp_flags_total", "TCP packets, by flag", MetricType::Counter);
  auto verdicts =
      family("hubble_policy_verdicts_total", "Policy verdicts, by direction, match type and action",
             MetricType::Counter);
  auto lost = family("hubble_lost_events_total", "Events lost", MetricType::Counter);
  for (int drop = 0; drop < 2; ++drop) {
    for (int egress = 0; egress < 2; ++egress) {
      for (uint8_t v = 0; v < 8; ++v) {
        const uint64_t n = s.processed(drop, egress, v);
        if (n == 0) continue;
        add(processed,
            {{"type", drop ? "Drop" : "Trace"},
             {"subtype", drop ? "" : (egress ? "from-endpoint" : "to-endpoint")},
             {"verdict", std::string(dataplane::verdictName(v))}},
            static_cast<double>(n));
      }
    }
  }
  for (int r = 1; r < 256; ++r) {
    for (int p = 0; p < 4; ++p) {
      const uint64_t n = s.drops(static_cast<uint8_t>(r), p);
      if (n == 0) continue;
      add(drops,
          {{"reason", std::string(dataplane::dropReasonName(static_cast<uint8_t>(r)))},
           {"protocol", kProto[p]}},
          static_cast<double>(n));
    }
  }
  for (int b = 0; b < 8; ++b) {
    if (s.tcpFlag(b) != 0) {
      add(flags, {{"flag", kFlags[b]}, {"family", "IPv4"}}, static_cast<double>(s.tcpFlag(b)));
    }
  }
  for (int e = 0; e < 2; ++e) {
    for (uint8_t m = 0; m < 8; ++m) {
      for (int a = 0; a < 4; ++a) {
        const uint64_t n = s.policy(e, m, a);
        if (n == 0) continue;
        add(verdicts,
            {{"direction", e ? "egress" : "ingress"},
             {"match", lower(dataplane::matchTypeName(m))},
             {"action", kAction[a]}},
            static_cast<double>(n));
      }
    }
  }
  add(lost, {{"source", "perf_event_ring_buffer"}}, static_cast<double>(s.lostEvents()));
  for (auto* f : {&processed, &drops, &flags, &verdicts, &lost}) out.push_back(std::move(*f));
}

class Collector : public prometheus::Collectable {
 public:
  Collector(Agent& agent, const FlowStats& stats, const std::atomic<uint64_t>& policies)
      : agent_(agent), stats_(stats), policies_(policies) {}
  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> out;
    datapathFamilies(agent_, out);
    agentFamilies(agent_, policies_.load(), out);
    flowFamilies(stats_, out);
    return out;
  }

 private:
  Agent& agent_;
  const FlowStats& stats_;
  const std::atomic<uint64_t>& policies_;
};

}  // namespace

struct MetricsServer::Impl {
  std::atomic<uint64_t> policies{0};
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<Collector> collector;
  prometheus::Family<prometheus::Counter>* regenerations = nullptr;
  prometheus::Histogram* regeneration_time = nullptr;
  std::unique_ptr<prometheus::Exposer> exposer;
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetricsServer::~MetricsServer() = default;

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& listen, Agent& agent,
                                                            const FlowStats& stats) {
  auto impl = std::make_unique<Impl>();
  impl->collector = std::make_shared<Collector>(agent, stats, impl->policies);
  impl->regenerations = &prometheus::BuildCounter()
                             .Name("cilium_endpoint_regenerations_total")
                             .Help("Reconciles of the node's endpoints, by outcome")
                             .Register(*impl->registry);
  impl->regeneration_time = &prometheus::BuildHistogram()
                                 .Name("cilium_endpoint_regeneration_time_stats_seconds")
                                 .Help("Duration of the node's reconciles")
                                 .Register(*impl->registry)
                                 .Add({{"scope", "total"}}, prometheus::Histogram::BucketBoundaries{
                                                                0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                0.05, 0.1, 0.25, 0.5, 1, 2.5, 5});
  if (!listen.empty()) {
    try {
      impl->exposer = std::make_unique<prometheus::Exposer>(listen, 1);
    } catch (const std::exception& e) {
      return Error{.code = EADDRINUSE, .context = "metrics: listen on " + listen + ": " + e.what()};
    }
    impl->exposer->RegisterCollectable(impl->registry);
    impl->exposer->RegisterCollectable(impl->collector);
  }
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

void MetricsServer::reconciled(const Agent::ReconcileOutcome& r) {
  if (r.model != nullptr) impl_->policies = r.model->loaded.cluster.policies.policy_count;
  if (r.replay) return;
  impl_->regenerations->Add({{"outcome", r.model != nullptr ? "success" : "fail"}}).Increment();
  impl_->regeneration_time->Observe(r.seconds);
}

std::string MetricsServer::render() const {
  auto families = impl_->registry->Collect();
  auto more = impl_->collector->Collect();
  families.insert(families.end(), more.begin(), more.end());
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace membrane::agent
