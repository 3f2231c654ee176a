// SPDX-License-Identifier: Apache-2.0
#include "sim/npguard.h"

#include <charconv>
#include <set>
#include <sstream>

namespace membrane::sim {
namespace {

using model::ConnSet;
using model::Ipv4;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
  while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  return s;
}

bool parsePeer(const std::string& s, std::string& name,
               std::optional<std::pair<Ipv4, Ipv4>>& range) {
  if (!s.ends_with("[External]")) {
    name = s;
    return !s.empty();
  }
  const std::string r = s.substr(0, s.size() - 10);
  auto dash = r.find('-');
  if (dash == std::string::npos) {
    auto ip = model::parseIpv4(r);
    if (!ip) return false;
    range = {{*ip, *ip}};
    return true;
  }
  auto lo = model::parseIpv4(r.substr(0, dash));
  auto hi = model::parseIpv4(r.substr(dash + 1));
  if (!lo || !hi) return false;
  range = {{*lo, *hi}};
  return true;
}

std::optional<ConnSet> parseConns(const std::string& s) {
  if (s == "All Connections") return ConnSet::all();
  if (s == "No Connections") return ConnSet{};
  ConnSet out;
  int proto = -1;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    tok = trim(tok);
    std::string ports = tok;  // a token is "PROTO", "PROTO ports" or more ports of PROTO
    for (size_t i = 0; i < ConnSet::kPortProtocols.size(); ++i) {
      const std::string name(model::protocolName(ConnSet::kPortProtocols[i]));
      if (tok == name || tok.starts_with(name + " ")) {
        proto = static_cast<int>(i);
        ports = trim(tok.substr(name.size()));
        break;
      }
    }
    if (proto < 0) return std::nullopt;
    if (ports.empty()) {
      out.ports[proto].add(0, 65535);
      continue;
    }
    unsigned lo = 0, hi = 0;
    auto dash = ports.find('-');
    auto num = [](const std::string& x, unsigned& v) {
      auto [p, ec] = std::from_chars(x.data(), x.data() + x.size(), v);
      return ec == std::errc() && p == x.data() + x.size() && v <= 65535;
    };
    if (dash == std::string::npos) {
      if (!num(ports, lo)) return std::nullopt;
      hi = lo;
    } else if (!num(ports.substr(0, dash), lo) || !num(ports.substr(dash + 1), hi)) {
      return std::nullopt;
    }
    out.ports[proto].add(lo, hi);
  }
  return out;
}

std::string rangeStr(Ipv4 lo, Ipv4 hi) {
  return model::formatIpv4(lo) + "-" + model::formatIpv4(hi) + "[External]";
}

}  // namespace

std::optional<std::vector<ConnLine>> parseConnList(const std::string& text, std::string* error) {
  std::vector<ConnLine> out;
  std::stringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    line = trim(line);
    if (line.empty()) continue;
    auto arrow = line.find(" => ");
    auto colon = line.find(" : ", arrow == std::string::npos ? 0 : arrow);
    ConnLine l;
    std::optional<ConnSet> conns;
    if (arrow == std::string::npos || colon == std::string::npos ||
        !parsePeer(trim(line.substr(0, arrow)), l.src, l.src_range) ||
        !parsePeer(trim(line.substr(arrow + 4, colon - arrow - 4)), l.dst, l.dst_range) ||
        !(conns = parseConns(trim(line.substr(colon + 3))))) {
      if (error) *error = "line " + std::to_string(n) + ": cannot parse \"" + line + "\"";
      return std::nullopt;
    }
    l.conns = *conns;
    out.push_back(std::move(l));
  }
  return out;
}

std::vector<ConnLine> toConnLines(const model::Cluster& c,
                                  const std::vector<model::ConnEntry>& es) {
  std::vector<ConnLine> out;
  for (const auto& e : es) {
    if (e.conns.empty()) continue;  // only L7-restricted: np-guard lists allowed connections
    ConnLine l{.conns = e.conns};
    if (e.src.external) {
      l.src_range = {{e.src.lo, e.src.hi}};
    } else {
      l.src = e.src.str(c);
    }
    if (e.dst.external) {
      l.dst_range = {{e.dst.lo, e.dst.hi}};
    } else {
      l.dst = e.dst.str(c);
    }
    out.push_back(std::move(l));
  }
  return out;
}

ConnSet npGuardUniverse(const ConnSet& s) {
  ConnSet u;
  for (size_t i = 0; i < u.ports.size(); ++i) {
    model::IntervalSet one_up;
    one_up.add(1, 65535);
    u.ports[i] = s.ports[i].intersect(one_up);
  }
  return u;
}

std::vector<std::string> compareConnLists(const std::vector<ConnLine>& ours,
                                          const std::vector<ConnLine>& expected) {
  std::vector<std::string> diffs;
  // Workload pairs.
  std::map<std::pair<std::string, std::string>, std::pair<ConnSet, ConnSet>> pairs;
  // External: (workload, egress?) -> cut points and per-side range lists.
  struct Ext {
    std::vector<std::tuple<Ipv4, Ipv4, ConnSet>> side[2];
  };
  std::map<std::pair<std::string, bool>, Ext> ext;
  auto add = [&](const std::vector<ConnLine>& lines, int side) {
    for (const auto& l : lines) {
      const ConnSet u = npGuardUniverse(l.conns);
      if (l.src_range && l.dst_range) continue;  // external to external: not modelled
      if (l.dst_range) {
        ext[{l.src, true}].side[side].push_back({l.dst_range->first, l.dst_range->second, u});
      } else if (l.src_range) {
        ext[{l.dst, false}].side[side].push_back({l.src_range->first, l.src_range->second, u});
      } else {
        auto& p = pairs[{l.src, l.dst}];
        (side == 0 ? p.first : p.second) = u;
      }
    }
  };
  add(ours, 0);
  add(expected, 1);
  for (const auto& [k, v] : pairs) {
    if (!(v.first == v.second)) {
      diffs.push_back(k.first + " => " + k.second + ": ours " + v.first.str() + ", expected " +
                      v.second.str());
    }
  }
  for (const auto& [k, e] : ext) {
    std::set<uint64_t> cuts{0, 1ull << 32};
    for (const auto& side : e.side) {
      for (const auto& [lo, hi, s] : side) {
        cuts.insert(lo);
        cuts.insert(uint64_t{hi} + 1);
      }
    }
    auto at = [](const std::vector<std::tuple<Ipv4, Ipv4, ConnSet>>& v, Ipv4 ip) {
      ConnSet r;
      for (const auto& [lo, hi, s] : v) {
        if (lo <= ip && ip <= hi) r = s;
      }
      return r;
    };
    for (auto it = cuts.begin(); std::next(it) != cuts.end(); ++it) {
      const Ipv4 lo = static_cast<Ipv4>(*it);
      const Ipv4 hi = static_cast<Ipv4>(*std::next(it) - 1);
      ConnSet a = at(e.side[0], lo), b = at(e.side[1], lo);
      if (a == b) continue;
      const std::string r = rangeStr(lo, hi);
      diffs.push_back((k.second ? k.first + " => " + r : r + " => " + k.first) + ": ours " +
                      a.str() + ", expected " + b.str());
    }
  }
  return diffs;
}

}  // namespace membrane::sim
