// SPDX-License-Identifier: Apache-2.0
// The `model` backend: every probe cell decided by the reference engine.
#include <charconv>

#include "model/explain.h"
#include "model/service_view.h"
#include "sim/corpus_case.h"
#include "sim/sim.h"

namespace membrane::sim {
namespace {

std::string probeName(const Probe& p) {
  std::string s(model::protocolName(p.protocol));
  if (!p.port.empty()) s += " " + p.port;
  return s;
}

}  // namespace

std::optional<uint16_t> probePort(const Probe& p, const model::Cluster& cluster,
                                  const model::FlowEndpoint& dst) {
  if (p.protocol == model::kProtoICMP) return 8;  // echo request
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(p.port.data(), p.port.data() + p.port.size(), v);
  if (ec == std::errc() && ptr == p.port.data() + p.port.size() && v <= 65535) {
    return static_cast<uint16_t>(v);
  }
  if (!dst.pod) return std::nullopt;
  for (const auto& cp : cluster.pods[*dst.pod].ports) {
    if (cp.name == p.port && cp.protocol == p.protocol) return cp.port;
  }
  return std::nullopt;
}

CaseReport checkCaseWithModel(const CorpusCase& c) {
  CaseReport report{.dir = c.dir};
  for (size_t si = 0; si < c.steps.size(); ++si) {
    const Step& step = c.steps[si];
    model::LoadResult loaded = loadCaseCluster(c, si);
    report.diags.merge(loaded.diags);
    if (!loaded.diags.ok()) return report;
    const model::Cluster& cluster = loaded.cluster;
    model::Engine engine(cluster);
    for (const Probe& p : step.probes) {
      for (size_t r = 0; r < p.rows.size(); ++r) {
        for (size_t col = 0; col < p.columns.size(); ++col) {
          const Cell expected = p.cells[r][col];
          if (expected == Cell::Skip || expected == Cell::Any) continue;
          CellResult cell{.step = step.name,
                          .probe = probeName(p),
                          .from = p.rows[r],
                          .to = p.columns[col],
                          .expected = expected};
          std::string why;
          auto src = resolveCaseEndpoint(c, cluster, p.rows[r], &why);
          auto dst = src ? resolveCaseEndpoint(c, cluster, p.columns[col], &why) : std::nullopt;
          std::optional<uint16_t> port = dst ? probePort(p, cluster, *dst) : std::nullopt;
          if (dst && !port) why = "named port " + p.port + " is not a port of " + p.columns[col];
          if (!src || !dst || !port) {
            report.diags.error({.loc = p.loc, .object = "case " + c.dir, .message = why});
            continue;
          }
          model::Flow flow{.src = *src, .dst = *dst, .protocol = p.protocol, .port = *port};
          model::Verdict v = engine.evaluate(flow);
          cell.observed =
              v.allowed ? Cell::Allowed : (!v.egress.allowed ? Cell::Egress : Cell::Ingress);
          cell.match = cellMatches(expected, cell.observed);
          cell.explanation = model::explainVerdict(engine, v);
          ++report.checked;
          if (!cell.match) ++report.mismatches;
          report.cells.push_back(std::move(cell));
        }
      }
    }
  }
  return report;
}

}  // namespace membrane::sim

namespace membrane::sim {
namespace {

// The Service a probe column names: svc:NS/NAME, or a peer whose address is a Service's
// frontend (ClusterIP, external or LoadBalancer IP) and no pod's.
const model::Service* cellService(const CorpusCase& c, const model::Cluster& cluster,
                                  const std::string& to, std::string* why) {
  if (to.starts_with("svc:")) return model::parseServiceRef(cluster, to, why);
  auto it = c.peers.find(to);
  if (it == c.peers.end()) return nullptr;
  auto ip = model::parseIpv4(it->second);
  if (!ip || cluster.findPodByIp(*ip)) return nullptr;
  return cluster.findServiceByIp(*ip);
}

std::optional<size_t> cellServicePort(const Probe& p, const model::Service& s) {
  for (size_t i = 0; i < s.ports.size(); ++i) {
    const auto& sp = s.ports[i];
    if (sp.protocol == p.protocol && (sp.name == p.port || std::to_string(sp.port) == p.port))
      return i;
  }
  return std::nullopt;
}

Cell blockedSide(const model::ServiceVerdict& v) {
  bool all_egress = true, all_ingress = true;
  for (const auto& b : v.backends) {
    const bool egress = b.target_port != 0 && !b.verdict.egress.allowed;
    const bool ingress = b.target_port != 0 && b.verdict.egress.allowed && !b.verdict.allowed;
    all_egress &= egress;
    all_ingress &= ingress;
  }
  if (!v.backends.empty() && all_egress) return Cell::Egress;
  if (!v.backends.empty() && all_ingress) return Cell::Ingress;
  return Cell::Blocked;
}

std::string backendList(const model::Cluster& cluster, const model::ServiceVerdict& v) {
  std::string s;
  for (const auto& b : v.backends) {
    s +=
        (s.empty() ? "" : "; ") + model::backendName(cluster, *b.backend) + " port " +
        std::to_string(b.target_port) + " " +
        (b.target_port == 0 ? "DENIED (no such port)" : std::string(model::verdictWord(b.verdict)));
  }
  return s.empty() ? "no ready backend" : s;
}

}  // namespace

bool predictServiceCell(const CorpusCase& c, const Probe& p, const model::Cluster& cluster,
                        const model::Engine& engine, SimCell& cell, std::string* why) {
  const model::Service* s = cellService(c, cluster, cell.to, why);
  if (!s) return why->empty();
  if (p.protocol == model::kProtoICMP) {
    *why = cell.to + ": a Service forwards TCP, UDP and SCTP, not ICMP";
    return false;
  }
  auto pi = cellServicePort(p, *s);
  if (!pi) {
    *why = cell.to + ": Service " + s->ref() + " has no " +
           std::string(model::protocolName(p.protocol)) + " port " + p.port;
    return false;
  }
  const model::ServiceVerdict v = model::evaluateThroughService(engine, cell.src, *s, *pi);
  const size_t ok = v.allowedCount();
  const std::string list = backendList(cluster, v);
  if (ok != 0 && ok != v.backends.size()) {
    *why = cell.from + " -> " + cell.to + " " + cell.probe +
           ": the verdict depends on the backend the datapath picks (" + list +
           "); probe the backends themselves";
    return false;
  }
  cell.service = s->ref();
  cell.port = s->ports[*pi].port;
  cell.dst = {.ip = s->cluster_ip.value_or(0)};
  cell.predicted = ok != 0 ? Cell::Allowed : blockedSide(v);
  cell.note = "through Service " + s->ref() + ": " + list;
  return true;
}

}  // namespace membrane::sim
