// SPDX-License-Identifier: Apache-2.0
// Judging what a backend observed beyond the expected tables: model-vs-backend agreement,
// the scenario's traffic items and its invariants.
#include "sim/judge.h"

#include "verify/verifier.h"

namespace membrane::sim {

bool observationAgrees(Cell predicted, Cell observed) {
  if ((predicted == Cell::Allowed) != (observed == Cell::Allowed)) return false;
  // A backend that saw a drop without its side (X) agrees with either side.
  return observed == Cell::Allowed || observed == Cell::Blocked || observed == predicted;
}

namespace {
Cell cellOf(const model::Verdict& v) {
  if (v.allowed) return Cell::Allowed;
  return v.egress.allowed ? Cell::Ingress : Cell::Egress;
}
}  // namespace

std::vector<TrafficCheck> enumerateTraffic(const Scenario& s, size_t step,
                                           const model::Cluster& cluster,
                                           const model::Engine& engine, model::Diagnostics& diags) {
  std::vector<TrafficCheck> out;
  for (size_t i = 0; i < s.traffic.size(); ++i) {
    const TrafficFlow& f = s.traffic[i];
    const Probe p{.port = f.port, .protocol = f.protocol, .loc = f.loc};
    std::string name(model::protocolName(f.protocol));
    if (!f.port.empty()) name += " " + f.port;
    TrafficCheck t{.index = i,
                   .cell = {.step = step, .probe = name, .from = f.from, .to = f.to},
                   .expect_from_model = !f.expect_allow.has_value()};
    t.cell.protocol = f.protocol;
    std::string why;
    auto src = resolveCaseEndpoint(s.c, cluster, f.from, &why);
    auto dst = src ? resolveCaseEndpoint(s.c, cluster, f.to, &why) : std::nullopt;
    auto port = dst ? probePort(p, cluster, *dst) : std::nullopt;
    if (dst && !port) why = "port \"" + f.port + "\" is not a port of " + f.to;
    if (!src || !dst || !port) {
      diags.error(
          {.loc = f.loc, .object = "scenario " + s.dir, .field = "traffic", .message = why});
      continue;
    }
    t.cell.src = *src;
    t.cell.dst = *dst;
    t.cell.port = *port;
    t.cell.predicted =
        cellOf(engine.evaluate({.src = *src, .dst = *dst, .protocol = f.protocol, .port = *port}));
    if (f.expect_allow) {
      t.cell.expected = *f.expect_allow ? Cell::Allowed : Cell::Blocked;
    } else {
      t.cell.expected = t.cell.predicted == Cell::Allowed ? Cell::Allowed : Cell::Blocked;
    }
    out.push_back(std::move(t));
  }
  return out;
}

size_t judgeTraffic(std::vector<TrafficCheck>& checks, const std::vector<TrafficLoad>& load,
                    const Scenario& s) {
  size_t failed = 0;
  for (auto& t : checks) {
    t.cell.match = cellMatches(t.cell.expected, t.cell.observed);
    t.cell.agrees = observationAgrees(t.cell.predicted, t.cell.observed);
    for (const auto& l : load) {
      if (l.flow == &s.traffic[t.index]) t.load = l;
    }
    bool load_ok = true;
    if (t.load) {
      // Allowed: every connection of the load got through; denied: not a single one.
      load_ok = t.cell.expected == Cell::Allowed
                    ? t.load->sent > 0 && t.load->delivered == t.load->sent
                    : t.load->delivered == 0;
    }
    t.match = t.cell.match && load_ok;
    if (!t.match) ++failed;
  }
  return failed;
}

std::vector<InvariantCheck> proveInvariants(const verify::InvariantFile& file, size_t step,
                                            const model::Cluster& cluster,
                                            model::Diagnostics& diags) {
  std::vector<InvariantCheck> out;
  verify::Verifier verifier(cluster);
  // Services resolve to this step's backends.
  verify::InvariantFile expanded = file;
  verify::expandServiceInvariants(cluster, expanded, diags);
  for (const auto& inv : expanded.invariants) {
    const verify::InvariantResult r = verifier.check(inv);
    InvariantCheck c{.step = step,
                     .name = inv.name,
                     .outcome = std::string(verify::outcomeName(r.outcome)),
                     .detail = r.reason,
                     .ok = !verify::fails(r) && (r.outcome == verify::Outcome::Holds ||
                                                 r.outcome == verify::Outcome::Vacuous)};
    if (r.outcome == verify::Outcome::Unknown &&
        r.reason.find("does not exist") != std::string::npos) {
      diags.error({.loc = inv.loc, .object = "invariant " + inv.name, .message = r.reason});
    }
    if (r.witness) {
      c.detail += (c.detail.empty() ? "" : "; ") + std::string("witness ") +
                  r.witness->src.describe(cluster) + " -> " + r.witness->dst.describe(cluster) +
                  " " + r.witness->flowStr();
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace membrane::sim
