// SPDX-License-Identifier: Apache-2.0
#include "sim/properties.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "verify/report.h"

namespace membrane::sim {
namespace {

using verify::jsonEscape;
using verify::xmlEscape;

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// Every traffic item the property covers, merged: latencies pooled, counts summed, the
// throughput the sum of the items' throughputs.
FlowStats merged(const Property& p, const std::vector<FlowStats>& flows) {
  FlowStats m;
  double bps = 0;
  for (size_t i : p.flows) {
    for (const auto& f : flows) {
      if (f.index != i) continue;
      m.sent += f.sent;
      m.delivered += f.delivered;
      bps += f.throughputBps();
      m.latency_ns.insert(m.latency_ns.end(), f.latency_ns.begin(), f.latency_ns.end());
    }
  }
  std::sort(m.latency_ns.begin(), m.latency_ns.end());
  m.seconds = 1;
  m.bytes = static_cast<uint64_t>(bps / 8);
  return m;
}

}  // namespace

uint64_t FlowStats::percentile(double q) const {
  if (latency_ns.empty()) return 0;
  // Nearest rank: the smallest sample with at least q of the samples at or below it.
  size_t rank = static_cast<size_t>(std::ceil(q * double(latency_ns.size())));
  return latency_ns[std::min(latency_ns.size() - 1, rank == 0 ? 0 : rank - 1)];
}

std::string formatNs(double ns) {
  if (ns >= 1e9) return fmt("%.3fs", ns / 1e9);
  if (ns >= 1e6) return fmt("%.3fms", ns / 1e6);
  if (ns >= 1e3) return fmt("%.1fus", ns / 1e3);
  return fmt("%.0fns", ns);
}

std::string formatBps(double bps) {
  if (bps >= 1e9) return fmt("%.3fGbps", bps / 1e9);
  if (bps >= 1e6) return fmt("%.2fMbps", bps / 1e6);
  if (bps >= 1e3) return fmt("%.1fKbps", bps / 1e3);
  return fmt("%.0fbps", bps);
}

std::vector<PropertyCheck> judgeProperties(const Scenario& s, const std::vector<FlowStats>& flows,
                                           bool judge) {
  std::vector<PropertyCheck> out;
  for (const auto& p : s.properties) {
    const std::string subject = p.flow.empty() ? p.from + " -> " + p.to : "flow " + p.flow;
    const FlowStats m = merged(p, flows);
    // Measured when some flow of the property was measured (netns measures TCP
    // request-response only).
    bool covered = false;
    for (size_t i : p.flows) {
      for (const auto& f : flows) covered |= f.index == i;
    }
    const bool judged = judge && !flows.empty();
    auto add = [&](std::string metric, std::string measured, std::string bound, bool ok) {
      out.push_back({.subject = subject,
                     .metric = std::move(metric),
                     .measured = judged || covered ? std::move(measured) : "-",
                     .bound = std::move(bound),
                     .judged = judged,
                     .ok = judged && ok,
                     .loc = p.loc});
    };
    // A flow with nothing delivered has no latency: a latency bound fails on it.
    const bool any = !m.latency_ns.empty();
    if (p.p50_ns) {
      add("p50", any ? formatNs(double(m.percentile(0.5))) : "no packet delivered",
          "<= " + formatNs(double(*p.p50_ns)), any && m.percentile(0.5) <= *p.p50_ns);
    }
    if (p.p99_ns) {
      add("p99", any ? formatNs(double(m.percentile(0.99))) : "no packet delivered",
          "<= " + formatNs(double(*p.p99_ns)), any && m.percentile(0.99) <= *p.p99_ns);
    }
    if (p.throughput_bps) {
      const double bps = double(m.bytes) * 8;
      add("throughput", formatBps(bps), ">= " + formatBps(double(*p.throughput_bps)),
          bps >= double(*p.throughput_bps));
    }
    if (p.loss) {
      add("loss",
          fmt("%.3f%%", m.loss() * 100) + " (" + std::to_string(m.sent - m.delivered) + "/" +
              std::to_string(m.sent) + ")",
          "<= " + fmt("%.3f%%", *p.loss * 100), m.sent > 0 && m.loss() <= *p.loss + 1e-12);
    }
  }
  return out;
}

void printPropertiesText(const SimReport& r, std::ostream& out) {
  for (const auto& f : r.flows) {
    out << "flow [" << f.index << "] sent " << f.sent << ", delivered " << f.delivered << ", loss "
        << fmt("%.3f%%", f.loss() * 100) << ", throughput " << formatBps(f.throughputBps());
    if (!f.latency_ns.empty()) {
      out << ", latency p50 " << formatNs(double(f.percentile(0.5))) << " p99 "
          << formatNs(double(f.percentile(0.99))) << " max "
          << formatNs(double(f.latency_ns.back()));
    }
    out << "\n";
  }
  for (const auto& p : r.properties) {
    out << "property " << p.subject << " " << p.metric << ": "
        << (!p.judged ? "not judged (only the ns3 backend models the links)"
                      : (p.ok ? "ok" : "FAIL"))
        << ", measured " << p.measured << ", bound " << p.bound << " (" << p.loc.str() << ")\n";
  }
  if (!r.properties.empty()) {
    out << "properties: " << r.properties.size() - r.properties_failed << "/" << r.properties.size()
        << " bounds hold\n";
  }
}

void printPropertiesJson(const SimReport& r, std::ostream& out) {
  out << ",\n  \"flows\": [";
  for (size_t j = 0; j < r.flows.size(); ++j) {
    const FlowStats& f = r.flows[j];
    out << (j ? "," : "") << "\n   {\"index\": " << f.index << ", \"sent\": " << f.sent
        << ", \"delivered\": " << f.delivered << ", \"loss\": " << f.loss()
        << ", \"throughput_bps\": " << f.throughputBps() << ", \"p50_ns\": " << f.percentile(0.5)
        << ", \"p99_ns\": " << f.percentile(0.99) << "}";
  }
  out << "],\n  \"properties\": [";
  for (size_t j = 0; j < r.properties.size(); ++j) {
    const PropertyCheck& p = r.properties[j];
    out << (j ? "," : "") << "\n   {\"subject\": \"" << jsonEscape(p.subject)
        << "\", \"metric\": \"" << p.metric << "\", \"measured\": \"" << jsonEscape(p.measured)
        << "\", \"bound\": \"" << jsonEscape(p.bound)
        << "\", \"judged\": " << (p.judged ? "true" : "false")
        << ", \"ok\": " << (p.ok ? "true" : "false") << ", \"at\": \"" << jsonEscape(p.loc.str())
        << "\"}";
  }
  out << "]";
}

void printReportJunit(const std::vector<SimReport>& reports, std::ostream& out) {
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"membrane sim\">\n";
  for (const auto& r : reports) {
    size_t failures = 0;
    std::ostringstream cases;
    auto testcase = [&](const std::string& name, bool ok, bool skipped, const std::string& msg) {
      cases << "  <testcase classname=\"" << xmlEscape(r.scenario) << "\" name=\""
            << xmlEscape(name) << "\">";
      if (skipped) cases << "<skipped message=\"" << xmlEscape(msg) << "\"/>";
      if (!ok && !skipped) {
        ++failures;
        cases << "<failure message=\"" << xmlEscape(msg) << "\"/>";
      }
      cases << "</testcase>\n";
    };
    for (const auto& e : r.diags.errors()) testcase("input", false, false, e.str());
    testcase("reachability", r.mismatches == 0 && r.disagreements == 0, false,
             std::to_string(r.mismatches) + " mismatches, " + std::to_string(r.disagreements) +
                 " disagreements with the model");
    for (const auto& i : r.invariants) {
      testcase("invariant " + i.name + " [" + r.steps[i.step] + "]", i.ok, false,
               i.outcome + (i.detail.empty() ? "" : ": " + i.detail));
    }
    for (const auto& t : r.traffic) {
      testcase("traffic [" + std::to_string(t.index) + "] " + t.cell.from + " -> " + t.cell.to,
               t.match, false, "observed " + std::string(1, static_cast<char>(t.cell.observed)));
    }
    for (const auto& p : r.properties) {
      testcase("property " + p.subject + " " + p.metric, p.ok, !p.judged,
               "measured " + p.measured + ", bound " + p.bound + " (" + p.loc.str() + ")");
    }
    out << " <testsuite name=\"" << xmlEscape(r.scenario) << "\" failures=\"" << failures << "\">\n"
        << cases.str() << " </testsuite>\n";
  }
  out << "</testsuites>\n";
}

}  // namespace membrane::sim
