// SPDX-License-Identifier: Apache-2.0
#include "sim/underlay.h"

#include <yaml-cpp/yaml.h>

#include <cctype>

#include "model/yaml_util.h"

namespace membrane::sim {
using model::YamlCtx;

namespace {

// A decimal number followed by one of `units` (name, multiplier); nullopt otherwise.
std::optional<uint64_t> parseWithUnit(const std::string& s,
                                      std::initializer_list<std::pair<const char*, double>> units) {
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  double v = 0;
  try {
    v = std::stod(s.substr(0, i));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const std::string unit = s.substr(i);
  for (const auto& [name, mult] : units) {
    if (unit == name) return static_cast<uint64_t>(v * mult + 0.5);
  }
  return std::nullopt;
}

// A link's attributes: bandwidth (required), delay, queue, mtu.
std::optional<LinkSpec> parseLink(const YamlCtx& ctx, const YAML::Node& n, const std::string& p,
                                  bool with_ends = false) {
  if (with_ends) {
    ctx.checkKeys(n, p, {"from", "to", "bandwidth", "delay", "queue", "mtu"});
  } else {
    ctx.checkKeys(n, p, {"bandwidth", "delay", "queue", "mtu"});
  }
  LinkSpec l{.loc = ctx.loc(n)};
  auto bw = ctx.str(n, "bandwidth", p);
  if (!bw) {
    ctx.error(n, model::joinPath(p, "bandwidth"),
              "required field is missing: a link needs a bandwidth (e.g. 10Gbps)");
    return std::nullopt;
  }
  auto b = parseBandwidth(*bw);
  if (!b || *b == 0) {
    ctx.error(n["bandwidth"], model::joinPath(p, "bandwidth"),
              "\"" + *bw + "\" is not a bandwidth (e.g. 10Gbps, 100Mbps, 500Kbps)");
    return std::nullopt;
  }
  l.bandwidth_bps = *b;
  if (auto d = ctx.str(n, "delay", p)) {
    auto v = parseDuration(*d);
    if (!v) {
      ctx.error(n["delay"], model::joinPath(p, "delay"),
                "\"" + *d + "\" is not a duration (e.g. 5us, 2ms)");
      return std::nullopt;
    }
    l.delay_ns = *v;
  }
  if (auto q = ctx.integer(n, "queue", p, 1, 1000000)) l.queue_packets = static_cast<uint32_t>(*q);
  if (auto m = ctx.integer(n, "mtu", p, 576, 65535)) l.mtu = static_cast<uint32_t>(*m);
  return l;
}

}  // namespace

UnderlaySpec defaultUnderlay() {
  UnderlaySpec u;
  u.link = {.bandwidth_bps = 10'000'000'000ULL, .delay_ns = 5'000};
  u.uplink = u.link;
  return u;
}

std::optional<uint64_t> parseBandwidth(const std::string& s) {
  return parseWithUnit(s, {{"bps", 1}, {"Kbps", 1e3}, {"Mbps", 1e6}, {"Gbps", 1e9}});
}

std::optional<uint64_t> parseDuration(const std::string& s) {
  return parseWithUnit(s, {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}});
}

std::optional<UnderlaySpec> parseUnderlay(const YamlCtx& ctx, const YAML::Node& n) {
  ctx.checkKeys(n, "underlay",
                {"shape", "racks", "spines", "link", "uplink", "interzone", "links"});
  UnderlaySpec u{.loc = ctx.loc(n)};
  const size_t before = ctx.diags()->errors().size();
  const std::string shape = ctx.str(n, "shape", "underlay").value_or("single-switch");
  if (shape == "single-switch") {
    u.shape = UnderlayShape::SingleSwitch;
  } else if (shape == "leaf-spine") {
    u.shape = UnderlayShape::LeafSpine;
  } else if (shape == "two-zones") {
    u.shape = UnderlayShape::TwoZones;
  } else if (shape == "links") {
    u.shape = UnderlayShape::Links;
  } else {
    ctx.error(n["shape"], "underlay.shape",
              "\"" + shape + "\" is not single-switch, leaf-spine, two-zones or links");
    return std::nullopt;
  }
  if (auto r = ctx.integer(n, "racks", "underlay", 1, 10000)) u.racks = static_cast<uint32_t>(*r);
  if (auto r = ctx.integer(n, "spines", "underlay", 1, 1000)) u.spines = static_cast<uint32_t>(*r);
  if (u.shape != UnderlayShape::Links) {
    YAML::Node l = ctx.map(n, "link", "underlay");
    if (!l) {
      ctx.error(n, "underlay.link", "required field is missing: the node links' bandwidth");
      return std::nullopt;
    }
    if (auto v = parseLink(ctx, l, "underlay.link")) u.link = *v;
    u.uplink = u.link;
    if (YAML::Node up = ctx.map(n, "uplink", "underlay")) {
      if (auto v = parseLink(ctx, up, "underlay.uplink")) u.uplink = *v;
    }
  }
  if (u.shape == UnderlayShape::TwoZones) {
    YAML::Node z = ctx.map(n, "interzone", "underlay");
    if (!z) {
      ctx.error(n, "underlay.interzone", "required field is missing: the link joining the zones");
    } else if (auto v = parseLink(ctx, z, "underlay.interzone")) {
      u.interzone = *v;
    }
  }
  if (u.shape == UnderlayShape::Links) {
    YAML::Node ls = ctx.seq(n, "links", "underlay");
    if (!ls || ls.size() == 0) {
      ctx.error(n, "underlay.links", "required field is missing: shape links needs links");
    }
    for (size_t i = 0; ls && i < ls.size(); ++i) {
      const std::string p = model::indexPath("underlay", "links", i);
      auto from = ctx.str(ls[i], "from", p);
      auto to = ctx.str(ls[i], "to", p);
      if (!from || !to || *from == *to) {
        ctx.error(ls[i], p, "from and to are required and must differ");
        continue;
      }
      if (auto v = parseLink(ctx, ls[i], p, true)) {
        u.links.push_back({.from = *from, .to = *to, .link = *v});
      }
    }
  }
  if (ctx.diags()->errors().size() != before) return std::nullopt;
  return u;
}

}  // namespace membrane::sim
