// SPDX-License-Identifier: Apache-2.0
#include "verify/diff.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "verify/l7_diff.h"
#include "verify/report.h"
#include "verify/service_diff.h"

namespace membrane::verify {

using model::ConnSet;
using model::Ipv4;

std::string_view diffTypeName(DiffType t) {
  switch (t) {
    case DiffType::Added:
      return "added";
    case DiffType::Removed:
      return "removed";
    case DiffType::Changed:
      return "changed";
  }
  return "?";
}

namespace {

ConnSet restrict(const ConnSet& s, const DiffOptions& o) {
  if (!o.npguard_universe) return s;
  ConnSet u;
  model::IntervalSet ports;
  ports.add(1, 65535);
  for (size_t i = 0; i < u.ports.size(); ++i) u.ports[i] = s.ports[i].intersect(ports);
  return u;
}

std::string rangeStr(Ipv4 lo, Ipv4 hi) {
  return model::formatIpv4(lo) + "-" + model::formatIpv4(hi) + "[External]";
}

// One side's view: workload pairs and, per (workload, direction), external ranges.
struct Side {
  std::map<std::pair<std::string, std::string>, ConnSet> pairs;
  std::map<std::pair<std::string, bool>, std::vector<std::tuple<Ipv4, Ipv4, ConnSet>>> ext;
  std::set<std::string> workloads;
  std::map<std::string, std::string> sample;  // workload -> "ns/pod (ip)"
};

Side collect(const model::Cluster& c, const std::vector<model::ConnEntry>& es,
             const DiffOptions& o) {
  Side s;
  for (size_t w = 0; w < c.workloads.size(); ++w) {
    model::ConnPeer p{.workload = w};
    s.workloads.insert(p.str(c));
  }
  for (const auto& pod : c.pods) {
    model::ConnPeer p{.workload = pod.workload};
    s.sample.try_emplace(p.str(c),
                         pod.ref() + (pod.ip ? " (" + model::formatIpv4(*pod.ip) + ")" : ""));
  }
  for (const auto& e : es) {
    const ConnSet conns = restrict(e.conns, o);
    if (e.src.external && e.dst.external) continue;
    if (e.dst.external) {
      s.ext[{e.src.str(c), true}].push_back({e.dst.lo, e.dst.hi, conns});
    } else if (e.src.external) {
      s.ext[{e.dst.str(c), false}].push_back({e.src.lo, e.src.hi, conns});
    } else {
      s.pairs[{e.src.str(c), e.dst.str(c)}] = conns;
    }
  }
  return s;
}

// The first protocol/port in `s` (ports before ICMP).
std::pair<uint8_t, uint16_t> firstConn(const ConnSet& s) {
  for (size_t i = 0; i < s.ports.size(); ++i) {
    for (const auto& [lo, hi] : s.ports[i].intervals()) {
      const uint32_t port = std::max<uint32_t>(lo, 1);
      if (port <= hi) return {ConnSet::kPortProtocols[i], static_cast<uint16_t>(port)};
    }
  }
  if (!s.icmp.empty())
    return {model::kProtoICMP, static_cast<uint16_t>(s.icmp.intervals()[0].first)};
  return {0, 0};
}

DiffEntry makeEntry(std::string src, std::string dst, const ConnSet& a, const ConnSet& b,
                    const Side& s1, const Side& s2) {
  DiffEntry d{.src = std::move(src), .dst = std::move(dst), .ref1 = a, .ref2 = b};
  d.type = a.empty() ? DiffType::Added : (b.empty() ? DiffType::Removed : DiffType::Changed);
  std::vector<std::string> added, removed;
  for (const std::string* w : {&d.src, &d.dst}) {
    if (w->ends_with("[External]")) continue;
    if (!s1.workloads.count(*w)) added.push_back(*w);
    if (!s2.workloads.count(*w)) removed.push_back(*w);
  }
  auto info = [](const std::vector<std::string>& ws, const char* what) {
    if (ws.empty()) return std::string();
    std::string s = "workload " + ws[0];
    if (ws.size() > 1) s += " and " + ws[1];
    return s + " " + what;
  };
  d.workloads_info = info(added, "added");
  if (d.workloads_info.empty()) d.workloads_info = info(removed, "removed");
  const ConnSet more = b.minus(a);
  const auto [proto, port] = firstConn(more.empty() ? a.minus(b) : more);
  d.witness = {.protocol = proto, .port = port, .newly_allowed = !more.empty()};
  auto sample = [&](const std::string& w, const std::optional<std::pair<Ipv4, Ipv4>>& r) {
    if (r) return model::formatIpv4(r->first);
    auto it = s2.sample.find(w);
    if (it != s2.sample.end()) return it->second;
    it = s1.sample.find(w);
    return it != s1.sample.end() ? it->second : w;
  };
  d.witness.src = sample(d.src, d.src_range);
  d.witness.dst = sample(d.dst, d.dst_range);
  return d;
}

void diffExternal(const Side& s1, const Side& s2, std::vector<DiffEntry>& out) {
  std::set<std::pair<std::string, bool>> keys;
  for (const auto& [k, v] : s1.ext) keys.insert(k);
  for (const auto& [k, v] : s2.ext) keys.insert(k);
  static const std::vector<std::tuple<Ipv4, Ipv4, ConnSet>> kNone;
  auto at = [](const std::vector<std::tuple<Ipv4, Ipv4, ConnSet>>& v, Ipv4 ip) {
    for (const auto& [lo, hi, s] : v) {
      if (lo <= ip && ip <= hi) return s;
    }
    return ConnSet{};
  };
  for (const auto& key : keys) {
    auto f1 = s1.ext.find(key);
    auto f2 = s2.ext.find(key);
    const auto& v1 = f1 == s1.ext.end() ? kNone : f1->second;
    const auto& v2 = f2 == s2.ext.end() ? kNone : f2->second;
    std::set<uint64_t> cuts{0, uint64_t{1} << 32};
    for (const auto* v : {&v1, &v2}) {
      for (const auto& [lo, hi, s] : *v) cuts.insert({lo, uint64_t{hi} + 1});
    }
    // Walk the atomic ranges, merging neighbours with the same pair of connection sets.
    std::optional<std::tuple<Ipv4, Ipv4, ConnSet, ConnSet>> run;
    auto flush = [&] {
      if (!run) return;
      auto [lo, hi, a, b] = *run;
      if (!(a == b)) {
        const std::string r = rangeStr(lo, hi);
        DiffEntry d = key.second ? makeEntry(key.first, r, a, b, s1, s2)
                                 : makeEntry(r, key.first, a, b, s1, s2);
        (key.second ? d.dst_range : d.src_range) = std::make_pair(lo, hi);
        d.witness = makeEntry(d.src, d.dst, a, b, s1, s2).witness;
        (key.second ? d.witness.dst : d.witness.src) = model::formatIpv4(lo);
        out.push_back(std::move(d));
      }
      run.reset();
    };
    for (auto it = cuts.begin(); std::next(it) != cuts.end(); ++it) {
      const Ipv4 lo = static_cast<Ipv4>(*it);
      const Ipv4 hi = static_cast<Ipv4>(*std::next(it) - 1);
      ConnSet a = at(v1, lo);
      ConnSet b = at(v2, lo);
      if (run && std::get<2>(*run) == a && std::get<3>(*run) == b) {
        std::get<1>(*run) = hi;
        continue;
      }
      flush();
      run = {lo, hi, a, b};
    }
    flush();
  }
}

}  // namespace

std::vector<DiffEntry> diffConnectivity(const model::Cluster& c1,
                                        const std::vector<model::ConnEntry>& e1,
                                        const model::Cluster& c2,
                                        const std::vector<model::ConnEntry>& e2,
                                        const DiffOptions& options) {
  const Side s1 = collect(c1, e1, options);
  const Side s2 = collect(c2, e2, options);
  std::vector<DiffEntry> out;
  std::set<std::pair<std::string, std::string>> keys;
  for (const auto& [k, v] : s1.pairs) keys.insert(k);
  for (const auto& [k, v] : s2.pairs) keys.insert(k);
  for (const auto& k : keys) {
    auto a = s1.pairs.find(k);
    auto b = s2.pairs.find(k);
    const ConnSet ca = a == s1.pairs.end() ? ConnSet{} : a->second;
    const ConnSet cb = b == s2.pairs.end() ? ConnSet{} : b->second;
    if (!(ca == cb)) out.push_back(makeEntry(k.first, k.second, ca, cb, s1, s2));
  }
  diffExternal(s1, s2, out);
  std::sort(out.begin(), out.end(), [](const DiffEntry& a, const DiffEntry& b) {
    return std::tie(a.type, a.src, a.dst) < std::tie(b.type, b.src, b.dst);
  });
  return out;
}

void printDiffText(std::ostream& out, const std::vector<DiffEntry>& d) {
  out << "Connectivity diff:\n";
  for (const auto& e : d) {
    out << "diff-type: " << diffTypeName(e.type) << ", source: " << e.src
        << ", destination: " << e.dst << ", ref1: " << e.ref1.str() << ", ref2: " << e.ref2.str();
    if (!e.workloads_info.empty()) out << ", workloads-diff-info: " << e.workloads_info;
    out << "\n";
  }
}

void printDiffJson(std::ostream& out, const std::vector<DiffEntry>& d,
                   const std::vector<ServiceDiffEntry>* services,
                   const std::vector<L7DiffEntry>* l7) {
  out << "{\"diff\": [";
  for (size_t i = 0; i < d.size(); ++i) {
    const auto& e = d[i];
    const auto& w = e.witness;
    out << (i ? ",\n  " : "\n  ") << "{\"diff-type\": \"" << diffTypeName(e.type)
        << "\", \"source\": \"" << jsonEscape(e.src) << "\", \"destination\": \""
        << jsonEscape(e.dst) << "\", \"ref1\": \"" << jsonEscape(e.ref1.str()) << "\", \"ref2\": \""
        << jsonEscape(e.ref2.str()) << "\"";
    if (!e.workloads_info.empty()) {
      out << ", \"workloads-diff-info\": \"" << jsonEscape(e.workloads_info) << "\"";
    }
    out << ", \"witness\": {\"source\": \"" << jsonEscape(w.src) << "\", \"destination\": \""
        << jsonEscape(w.dst) << "\", \"protocol\": \"" << model::protocolName(w.protocol)
        << "\", \"port\": " << w.port << ", \"change\": \""
        << (w.newly_allowed ? "newly allowed" : "newly denied") << "\"}}";
  }
  out << (d.empty() ? "" : "\n") << "]";
  if (services) {
    out << ", \"services\": ";
    printServiceDiffJson(out, *services);
  }
  if (l7) {
    out << ", \"l7\": ";
    printL7DiffJson(out, *l7);
  }
  out << "}\n";
}

}  // namespace membrane::verify
