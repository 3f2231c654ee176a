// SPDX-License-Identifier: Apache-2.0
#include "verify/report.h"

#include <cstdio>
#include <sstream>

namespace membrane::verify {
namespace {

// Default deny lists every enforcing rule; a report shows the first few.
constexpr size_t kMaxRulesShown = 5;

std::string sideLine(const model::SideDecision& d, const std::vector<std::string>& rules) {
  std::string s = d.allowed ? "allowed" : d.l7_restricted ? "L7-RESTRICTED" : "DENIED";
  s += " (" + std::string(model::decisionReasonName(d.reason)) + ")";
  for (size_t i = 0; i < rules.size() && i < kMaxRulesShown; ++i) s += "\n        " + rules[i];
  if (rules.size() > kMaxRulesShown) {
    s += "\n        ... and " + std::to_string(rules.size() - kMaxRulesShown) + " more";
  }
  return s;
}

std::string fmtMillis(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", ms);
  return buf;
}

std::string witnessText(const model::Cluster& c, const Witness& w, const std::string& indent) {
  std::ostringstream o;
  o << indent << "witness flow: " << w.flowStr() << "\n";
  o << indent << "  source:      " << w.src.describe(c) << "\n";
  o << indent << "  destination: " << w.dst.describe(c) << "\n";
  o << indent << "  egress at source:       " << sideLine(w.verdict.egress, w.egress_rules) << "\n";
  o << indent << "  ingress at destination: " << sideLine(w.verdict.ingress, w.ingress_rules)
    << "\n";
  return o.str();
}

std::string answer(bool allowed) { return allowed ? "allowed" : "denied"; }

// Both answers of a disagreement, so the bug report needs nothing else.
std::string disagreementText(const Witness& w, const std::string& indent) {
  return indent + "SMT encoding: " + answer(w.smt_allowed) + "\n" + indent +
         "model::Engine: " + answer(w.engineAllowed()) + (w.engineL7() ? " (L7-restricted)" : "") +
         "\n";
}

std::string invariantHeader(const InvariantResult& r) {
  const Invariant& inv = *r.invariant;
  std::string s = inv.name + " (expect " + std::string(expectName(inv.expect)) + ", scope " +
                  std::string(scopeName(inv.scope)) + "): from " + inv.from.str() + " to " +
                  inv.to.str();
  if (!inv.ports.empty()) {
    s += " on";
    for (const auto& p : inv.ports) s += " " + p.str();
  }
  return s;
}

std::string witnessJson(const model::Cluster& c, const Witness& w) {
  auto end = [&](const WitnessEnd& e) {
    std::string s = "{\"description\": \"" + jsonEscape(e.describe(c)) +
                    "\", \"identity\": " + std::to_string(e.identity) +
                    ", \"hypothetical\": " + (e.hypothetical ? "true" : "false");
    if (e.kind == kKindExternal) s += ", \"address\": \"" + model::formatIpv4(e.addr) + "\"";
    if (e.kind == kKindPod) {
      s += ", \"namespace\": \"" + jsonEscape(e.namespace_) + "\", \"labels\": {";
      bool first = true;
      for (const auto& [k, v] : e.labels) {
        s +=
            std::string(first ? "" : ", ") + "\"" + jsonEscape(k) + "\": \"" + jsonEscape(v) + "\"";
        first = false;
      }
      s += "}";
    }
    return s + "}";
  };
  auto side = [&](const model::SideDecision& d, const std::vector<std::string>& rules) {
    std::string s = std::string("{\"allowed\": ") + (d.allowed ? "true" : "false") +
                    ", \"reason\": \"" + jsonEscape(model::decisionReasonName(d.reason)) +
                    "\", \"rules\": [";
    for (size_t i = 0; i < rules.size(); ++i)
      s += (i ? ", \"" : "\"") + jsonEscape(rules[i]) + "\"";
    return s + "]}";
  };
  std::string l7 = "[";
  for (size_t i = 0; i < w.l7_rules.size(); ++i)
    l7 += (i ? ", \"" : "\"") + jsonEscape(w.l7_rules[i]) + "\"";
  return "{\"protocol\": \"" + std::string(model::protocolName(w.protocol)) +
         "\", \"port\": " + std::to_string(w.port) +
         ", \"l7Restricted\": " + (w.smt_l7 ? "true" : "false") + ", \"l7Rules\": " + l7 + "]" +
         ", \"source\": " + end(w.src) + ", \"destination\": " + end(w.dst) +
         ", \"egress\": " + side(w.verdict.egress, w.egress_rules) +
         ", \"ingress\": " + side(w.verdict.ingress, w.ingress_rules) + "}";
}

std::string mismatchText(const model::Cluster& c, const CompiledMismatch& m) {
  std::string s = c.pods[m.pod].ref() + " " + std::string(model::directionName(m.direction)) +
                  " peer " + std::to_string(m.peer) + " " +
                  std::string(model::protocolName(m.protocol)) + " " + std::to_string(m.port) +
                  ": rules (SMT) say " + std::string(verdictName(m.rule_verdict)) +
                  ", compiled map says " + std::string(verdictName(m.map_verdict)) +
                  ", model::Engine says " + std::string(verdictName(m.engine_verdict));
  for (size_t i = 0; i < m.engine_rules.size() && i < kMaxRulesShown; ++i) {
    s += (i ? "; " : " by ") + m.engine_rules[i];
  }
  return s;
}

const char* outcomeTag(const InvariantResult& r) {
  switch (r.outcome) {
    case Outcome::Holds:
      return "PASS";
    case Outcome::Violated:
      return "FAIL";
    case Outcome::Vacuous:
      return r.invariant && r.invariant->allow_vacuous ? "VACUOUS (allowed)" : "VACUOUS";
    case Outcome::Unknown:
      return "UNKNOWN";
    case Outcome::InternalError:
      return "INTERNAL ERROR";
  }
  return "?";
}

}  // namespace

std::string jsonEscape(std::string_view s) {
  std::string o;
  for (char ch : s) {
    switch (ch) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\t':
        o += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          o += buf;
        } else {
          o += ch;
        }
    }
  }
  return o;
}

std::string xmlEscape(std::string_view s) {
  std::string o;
  for (char ch : s) {
    switch (ch) {
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '&':
        o += "&amp;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += ch;
    }
  }
  return o;
}

void printText(std::ostream& out, const model::Cluster& c, const std::vector<InvariantResult>& rs) {
  size_t held = 0;
  for (const auto& r : rs) {
    out << outcomeTag(r) << "  " << invariantHeader(r) << "  [" << fmtMillis(r.millis) << " ms]\n";
    if (!r.reason.empty() && r.outcome != Outcome::Holds) out << "      " << r.reason << "\n";
    if (r.witness && r.outcome == Outcome::InternalError)
      out << disagreementText(*r.witness, "      ");
    if (r.witness) out << witnessText(c, *r.witness, "      ");
    held += r.outcome == Outcome::Holds;
  }
  out << held << "/" << rs.size() << " invariants hold\n";
}

void printCompiledText(std::ostream& out, const model::Cluster& c, const CompiledResult& r) {
  out << "compiled map state: " << r.endpoints << " endpoint classes, " << r.mismatches.size()
      << " mismatches, " << r.unknown.size() << " unknown  [" << fmtMillis(r.millis) << " ms]\n";
  for (const auto& m : r.mismatches) out << "  MISMATCH " << mismatchText(c, m) << "\n";
  for (const auto& u : r.unknown) out << "  UNKNOWN " << u << "\n";
}

void printJson(std::ostream& out, const model::Cluster& c, const std::vector<InvariantResult>& rs,
               const CompiledResult* compiled) {
  out << "{\"invariants\": [";
  for (size_t i = 0; i < rs.size(); ++i) {
    const auto& r = rs[i];
    out << (i ? ", " : "") << "{\"name\": \"" << jsonEscape(r.invariant->name)
        << "\", \"result\": \"" << outcomeName(r.outcome) << "\", \"expect\": \""
        << expectName(r.invariant->expect) << "\", \"scope\": \"" << scopeName(r.invariant->scope)
        << "\", \"millis\": " << fmtMillis(r.millis) << ", \"reason\": \"" << jsonEscape(r.reason)
        << "\", \"fails\": " << (fails(r) ? "true" : "false");
    if (r.invariant->allow_vacuous) out << ", \"allowVacuous\": true";
    if (r.witness) out << ", \"witness\": " << witnessJson(c, *r.witness);
    if (r.witness && r.outcome == Outcome::InternalError) {
      out << ", \"smt\": \"" << answer(r.witness->smt_allowed) << "\", \"engine\": \""
          << answer(r.witness->engineAllowed()) << "\"";
    }
    out << "}";
  }
  out << "]";
  if (compiled) {
    out << ", \"compiled\": {\"endpoints\": " << compiled->endpoints << ", \"mismatches\": [";
    for (size_t i = 0; i < compiled->mismatches.size(); ++i) {
      out << (i ? ", " : "") << "\"" << jsonEscape(mismatchText(c, compiled->mismatches[i]))
          << "\"";
    }
    out << "], \"unknown\": " << compiled->unknown.size() << "}";
  }
  out << "}\n";
}

void printJunit(std::ostream& out, const model::Cluster& c, const std::vector<InvariantResult>& rs,
                const CompiledResult* compiled, const std::string& suite) {
  size_t failures = 0;
  size_t errors = 0;
  double total = 0;
  for (const auto& r : rs) {
    failures += fails(r);
    errors += r.outcome == Outcome::Unknown || r.outcome == Outcome::InternalError;
    total += r.millis;
  }
  const size_t tests = rs.size() + (compiled ? 1 : 0);
  if (compiled) {
    errors += compiled->mismatches.empty() && compiled->unknown.empty() ? 0 : 1;
  }
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\""
      << xmlEscape(suite) << "\" tests=\"" << tests << "\" failures=\"" << failures
      << "\" errors=\"" << errors << "\" time=\"" << total / 1000 << "\">\n";
  for (const auto& r : rs) {
    out << "    <testcase classname=\"membrane.verify\" name=\"" << xmlEscape(r.invariant->name)
        << "\" time=\"" << r.millis / 1000 << "\"";
    if (r.outcome == Outcome::Holds) {
      out << "/>\n";
      continue;
    }
    if (r.outcome == Outcome::Vacuous && !fails(r)) {
      out << ">\n      <system-out>" << xmlEscape("VACUOUS (allowed): " + r.reason)
          << "</system-out>\n    </testcase>\n";
      continue;
    }
    const char* tag = fails(r) ? "failure" : "error";
    std::string body = invariantHeader(r) + "\n";
    if (r.witness && r.outcome == Outcome::InternalError) body += disagreementText(*r.witness, "");
    if (r.witness) body += witnessText(c, *r.witness, "");
    out << ">\n      <" << tag << " message=\"" << xmlEscape(r.reason) << "\">" << xmlEscape(body)
        << "</" << tag << ">\n    </testcase>\n";
  }
  if (compiled) {
    out << "    <testcase classname=\"membrane.verify\" name=\"check-compiled\" time=\""
        << compiled->millis / 1000 << "\"";
    if (compiled->mismatches.empty() && compiled->unknown.empty()) {
      out << "/>\n";
    } else {
      std::ostringstream body;
      printCompiledText(body, c, *compiled);
      out << ">\n      <error message=\"compiled map state differs from the rules\">"
          << xmlEscape(body.str()) << "</error>\n    </testcase>\n";
    }
  }
  out << "  </testsuite>\n</testsuites>\n";
}

int exitCode(const std::vector<InvariantResult>& rs, const CompiledResult* compiled) {
  bool internal = compiled && !compiled->mismatches.empty();
  bool failed = false;
  bool unknown = compiled && !compiled->unknown.empty();
  for (const auto& r : rs) {
    internal |= r.outcome == Outcome::InternalError;
    failed |= fails(r);
    unknown |= r.outcome == Outcome::Unknown;
  }
  if (internal) return kVerifyExitInternal;
  if (failed) return kVerifyExitFailed;
  return unknown ? kVerifyExitUnknown : kVerifyExitOk;
}

}  // namespace membrane::verify
