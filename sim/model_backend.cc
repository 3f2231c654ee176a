// SPDX-License-Identifier: Apache-2.0
// The `model` backend: every probe cell decided by the reference engine.
#include <charconv>

#include "model/explain.h"
#include "sim/corpus_case.h"

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
