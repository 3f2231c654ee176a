// SPDX-License-Identifier: Apache-2.0
// Reports of `membrane sim`: truth tables side by side (observed | expected | model), the
// mismatches with the datapath's flow events, and the same as JSON.
#include "verify/report.h"

#include <algorithm>
#include <iomanip>
#include <map>
#include <ostream>

#include "sim/properties.h"
#include "sim/sim.h"

namespace membrane::sim {
namespace {

using verify::jsonEscape;

struct Table {
  std::vector<std::string> rows, cols;
  std::map<std::pair<size_t, size_t>, const SimCell*> cells;
};

// Places `name` at `index` (the probe table's own order).
size_t place(std::vector<std::string>& v, size_t index, const std::string& name) {
  if (v.size() <= index) v.resize(index + 1);
  v[index] = name;
  return index;
}

std::string cellStr(Cell c) { return std::string(1, static_cast<char>(c)); }

void printHowAndEvents(const SimCell& c, std::ostream& out) {
  if (!c.note.empty()) out << "  how: " << c.note << "\n";
  if (c.events.empty()) out << "  no flow event from the datapath for this flow\n";
  for (const auto& e : c.events) out << "  event: " << e << "\n";
}

// Cells that fail their expectation, then cells where the backend and the model differ.
void printCellVerdicts(const SimReport& r, std::ostream& out) {
  for (const auto& c : r.cells) {
    if (c.match) continue;
    out << "MISMATCH [" << r.steps[c.step] << "] " << c.probe << " " << c.from << " -> " << c.to
        << ": expected " << cellStr(c.expected) << ", observed " << cellStr(c.observed)
        << ", model " << cellStr(c.predicted) << "\n";
    printHowAndEvents(c, out);
  }
  for (const auto& c : r.cells) {
    if (c.agrees) continue;
    out << "DISAGREE [" << r.steps[c.step] << "] " << c.probe << " " << c.from << " -> " << c.to
        << ": model " << cellStr(c.predicted) << ", observed " << cellStr(c.observed)
        << " (backend " << r.backend << ")\n";
    printHowAndEvents(c, out);
  }
}

std::string allowStr(Cell c) { return c == Cell::Allowed ? "allow" : "deny"; }

void printInvariantsAndTraffic(const SimReport& r, std::ostream& out) {
  for (const auto& i : r.invariants) {
    out << "invariant [" << r.steps[i.step] << "] " << i.name << ": "
        << (i.ok ? i.outcome : "FAIL " + i.outcome);
    if (!i.ok && !i.detail.empty()) out << ": " << i.detail;
    out << "\n";
  }
  for (const auto& t : r.traffic) {
    const SimCell& c = t.cell;
    out << "traffic [" << t.index << "] " << c.from << " -> " << c.to << " " << c.probe << ": "
        << (t.match ? "ok" : "FAIL") << ", expected " << allowStr(c.expected)
        << (t.expect_from_model ? " (the model's verdict)" : " (expect)") << ", observed "
        << cellStr(c.observed);
    if (t.load) {
      out << ", load " << t.load->delivered << "/" << t.load->sent << " delivered";
    }
    out << "\n";
    if (!t.match || !c.agrees) printHowAndEvents(c, out);
  }
}

}  // namespace

void printReportText(const SimReport& r, std::ostream& out) {
  out << "== " << r.scenario << "  backend " << r.backend;
  if (r.backend != "model") out << " (" << routingName(r.routing) << ")";
  out << "\n";
  // Tables per (step, probe), in order of appearance.
  std::vector<std::pair<size_t, std::string>> order;
  std::map<std::pair<size_t, std::string>, Table> tables;
  for (const auto& c : r.cells) {
    auto key = std::make_pair(c.step, c.probe);
    if (!tables.count(key)) order.push_back(key);
    Table& t = tables[key];
    t.cells[{place(t.rows, c.row, c.from), place(t.cols, c.col, c.to)}] = &c;
  }
  for (const auto& key : order) {
    const Table& t = tables[key];
    out << "[" << r.steps[key.first] << "] " << key.second << "   columns:";
    for (size_t i = 0; i < t.cols.size(); ++i) out << " " << i + 1 << "=" << t.cols[i];
    out << "\n";
    size_t w = 8;
    for (const auto& row : t.rows) w = std::max(w, row.size());
    auto header = [&]() {
      std::string h;
      for (size_t i = 0; i < t.cols.size(); ++i) h += std::to_string((i + 1) % 10);
      return h;
    };
    out << "  " << std::left << std::setw(static_cast<int>(w)) << "from\\to"
        << "  observed" << std::string(t.cols.size() > 8 ? t.cols.size() - 8 : 0, ' ')
        << "  expected" << std::string(t.cols.size() > 8 ? t.cols.size() - 8 : 0, ' ')
        << "  model\n";
    const size_t pad = std::max<size_t>(t.cols.size(), 8);
    auto padded = [&](const std::string& s) { return s + std::string(pad - s.size(), ' '); };
    out << "  " << std::setw(static_cast<int>(w)) << ""
        << "  " << padded(header()) << "  " << padded(header()) << "  " << header() << "\n";
    for (size_t ri = 0; ri < t.rows.size(); ++ri) {
      std::string obs, exp, mod;
      bool bad = false, disagrees = false;
      for (size_t ci = 0; ci < t.cols.size(); ++ci) {
        auto it = t.cells.find({ri, ci});
        if (it == t.cells.end()) {
          obs += '#';
          exp += '#';
          mod += '#';
          continue;
        }
        obs += static_cast<char>(it->second->observed);
        exp += static_cast<char>(it->second->expected);
        mod += static_cast<char>(it->second->predicted);
        bad |= !it->second->match;
        disagrees |= !it->second->agrees;
      }
      out << "  " << std::setw(static_cast<int>(w)) << t.rows[ri] << "  " << padded(obs) << "  "
          << padded(exp) << "  " << mod
          << (bad         ? "   <- mismatch"
              : disagrees ? "   <- disagrees with the model"
                          : "")
          << "\n";
    }
  }
  for (const auto& n : r.notes) out << "note: " << n << "\n";
  std::map<std::string, size_t> kinds;
  for (const auto& c : r.cells) {
    if (!c.note.empty() && r.backend != "model") ++kinds[c.note];
  }
  for (const auto& [note, n] : kinds) out << "note: " << n << " cell(s): " << note << "\n";
  printCellVerdicts(r, out);
  printInvariantsAndTraffic(r, out);
  printPropertiesText(r, out);
  out << (r.ok() ? "PASS " : "FAIL ") << r.scenario << " (" << r.backend << ", " << r.cells.size()
      << " cells, " << r.mismatches << " mismatches, " << r.disagreements
      << " disagreements with the model, " << r.invariants.size() - r.invariants_failed << "/"
      << r.invariants.size() << " invariants hold, " << r.traffic.size() - r.traffic_failed << "/"
      << r.traffic.size() << " traffic items ok, " << std::fixed << std::setprecision(2)
      << r.seconds << " s)\n";
}

namespace {
void printJudgementJson(const SimReport& r, std::ostream& out) {
  out << "  \"invariants\": [";
  for (size_t j = 0; j < r.invariants.size(); ++j) {
    const InvariantCheck& i = r.invariants[j];
    out << (j ? "," : "") << "\n   {\"step\": \"" << jsonEscape(r.steps[i.step])
        << "\", \"name\": \"" << jsonEscape(i.name) << "\", \"outcome\": \"" << i.outcome
        << "\", \"ok\": " << (i.ok ? "true" : "false") << ", \"detail\": \"" << jsonEscape(i.detail)
        << "\"}";
  }
  out << "],\n  \"traffic\": [";
  for (size_t j = 0; j < r.traffic.size(); ++j) {
    const TrafficCheck& t = r.traffic[j];
    out << (j ? "," : "") << "\n   {\"index\": " << t.index << ", \"from\": \""
        << jsonEscape(t.cell.from) << "\", \"to\": \"" << jsonEscape(t.cell.to)
        << "\", \"probe\": \"" << t.cell.probe << "\", \"expected\": \""
        << allowStr(t.cell.expected) << "\", \"expected_from\": \""
        << (t.expect_from_model ? "model" : "expect") << "\", \"observed\": \""
        << cellStr(t.cell.observed) << "\", \"model\": \"" << cellStr(t.cell.predicted) << "\"";
    if (t.load) out << ", \"sent\": " << t.load->sent << ", \"delivered\": " << t.load->delivered;
    out << ", \"ok\": " << (t.match ? "true" : "false") << "}";
  }
  out << "]";
}
}  // namespace

void printReportJson(const std::vector<SimReport>& reports, std::ostream& out) {
  out << "[";
  for (size_t i = 0; i < reports.size(); ++i) {
    const SimReport& r = reports[i];
    out << (i ? "," : "") << "\n {\"scenario\": \"" << jsonEscape(r.scenario)
        << "\", \"backend\": \"" << r.backend << "\", \"routing\": \"" << routingName(r.routing)
        << "\", \"ok\": " << (r.ok() ? "true" : "false") << ", \"mismatches\": " << r.mismatches
        << ", \"disagreements\": " << r.disagreements
        << ", \"invariants_failed\": " << r.invariants_failed
        << ", \"traffic_failed\": " << r.traffic_failed
        << ", \"properties_failed\": " << r.properties_failed << ", \"seconds\": " << r.seconds
        << ",\n  \"notes\": [";
    for (size_t j = 0; j < r.notes.size(); ++j) {
      out << (j ? ", " : "") << "\"" << jsonEscape(r.notes[j]) << "\"";
    }
    out << "],\n  \"errors\": [";
    for (size_t j = 0; j < r.diags.errors().size(); ++j) {
      out << (j ? ", " : "") << "\"" << jsonEscape(r.diags.errors()[j].str()) << "\"";
    }
    out << "],\n  \"cells\": [";
    for (size_t j = 0; j < r.cells.size(); ++j) {
      const SimCell& c = r.cells[j];
      out << (j ? "," : "") << "\n   {\"step\": \"" << jsonEscape(r.steps[c.step])
          << "\", \"probe\": \"" << c.probe << "\", \"from\": \"" << jsonEscape(c.from)
          << "\", \"to\": \"" << jsonEscape(c.to) << "\", \"port\": " << c.port
          << ", \"expected\": \"" << cellStr(c.expected) << "\", \"observed\": \""
          << cellStr(c.observed) << "\", \"model\": \"" << cellStr(c.predicted)
          << "\", \"match\": " << (c.match ? "true" : "false")
          << ", \"agrees\": " << (c.agrees ? "true" : "false") << ", \"note\": \""
          << jsonEscape(c.note) << "\", \"events\": [";
      for (size_t k = 0; k < c.events.size(); ++k) {
        out << (k ? ", " : "") << "\"" << jsonEscape(c.events[k]) << "\"";
      }
      out << "]}";
    }
    out << "],\n";
    printJudgementJson(r, out);
    printPropertiesJson(r, out);
    out << "}";
  }
  out << "\n]\n";
}

}  // namespace membrane::sim
