// SPDX-License-Identifier: Apache-2.0
#include "cni/wire.h"

namespace membrane::cni {

using nlohmann::json;

std::optional<Version> parseVersion(std::string_view text) {
  if (text == "0.4.0") return Version::V0_4_0;
  if (text == "1.0.0") return Version::V1_0_0;
  if (text == "1.1.0") return Version::V1_1_0;
  return std::nullopt;
}

std::string_view versionString(Version v) {
  switch (v) {
    case Version::V0_4_0:
      return "0.4.0";
    case Version::V1_0_0:
      return "1.0.0";
    case Version::V1_1_0:
      return "1.1.0";
  }
  return "1.1.0";
}

json errorJson(const Error& e, std::string_view cniVersion) {
  json j = {{"cniVersion", cniVersion}, {"code", static_cast<int>(e.code)}, {"msg", e.msg}};
  if (!e.details.empty()) j["details"] = e.details;
  return j;
}

json toJson(const CniResult& r, Version v) {
  json out = {{"cniVersion", versionString(v)}};
  json ifaces = json::array();
  for (const Interface& i : r.interfaces) {
    json o = {{"name", i.name}};
    if (!i.mac.empty()) o["mac"] = i.mac;
    if (!i.sandbox.empty()) o["sandbox"] = i.sandbox;
    if (i.mtu > 0 && v == Version::V1_1_0) o["mtu"] = i.mtu;
    ifaces.push_back(std::move(o));
  }
  out["interfaces"] = std::move(ifaces);
  json ips = json::array();
  for (const IpConfig& ip : r.ips) {
    json o = {{"address", ip.address}};
    // 0.4.0 requires "version"; 1.0.0 removed it.
    if (v == Version::V0_4_0) {
      o["version"] = ip.address.find(':') == std::string::npos ? "4" : "6";
    }
    if (!ip.gateway.empty()) o["gateway"] = ip.gateway;
    if (ip.interface >= 0) o["interface"] = ip.interface;
    ips.push_back(std::move(o));
  }
  out["ips"] = std::move(ips);
  json routes = json::array();
  for (const Route& rt : r.routes) {
    json o = {{"dst", rt.dst}};
    if (!rt.gw.empty()) o["gw"] = rt.gw;
    routes.push_back(std::move(o));
  }
  if (!routes.empty()) out["routes"] = std::move(routes);
  if (!r.dns.empty()) out["dns"] = r.dns;
  return out;
}

namespace {

Error shapeError(std::string_view where, const std::string& field, std::string_view expected) {
  return Error{Code::DecodeFailure, "cannot decode " + std::string(where),
               std::string(where) + field + ": expected " + std::string(expected)};
}

// Reads an optional string member; false when present with another type.
bool optString(const json& o, const char* key, std::string& out) {
  auto it = o.find(key);
  if (it == o.end()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

std::optional<Error> parseInterfaces(const json& j, std::string_view where, CniResult& r) {
  auto it = j.find("interfaces");
  if (it == j.end()) return std::nullopt;
  if (!it->is_array()) return shapeError(where, ".interfaces", "an array");
  for (size_t n = 0; n < it->size(); ++n) {
    const json& o = (*it)[n];
    const std::string f = ".interfaces[" + std::to_string(n) + "]";
    Interface i;
    if (!o.is_object() || !o.contains("name") || !o["name"].is_string())
      return shapeError(where, f + ".name", "a string");
    i.name = o["name"].get<std::string>();
    if (!optString(o, "mac", i.mac)) return shapeError(where, f + ".mac", "a string");
    if (!optString(o, "sandbox", i.sandbox)) return shapeError(where, f + ".sandbox", "a string");
    if (o.contains("mtu")) {
      if (!o["mtu"].is_number_integer()) return shapeError(where, f + ".mtu", "an integer");
      i.mtu = o["mtu"].get<int>();
    }
    r.interfaces.push_back(std::move(i));
  }
  return std::nullopt;
}

std::optional<Error> parseIps(const json& j, std::string_view where, CniResult& r) {
  auto it = j.find("ips");
  if (it == j.end()) return std::nullopt;
  if (!it->is_array()) return shapeError(where, ".ips", "an array");
  for (size_t n = 0; n < it->size(); ++n) {
    const json& o = (*it)[n];
    const std::string f = ".ips[" + std::to_string(n) + "]";
    IpConfig ip;
    if (!o.is_object() || !o.contains("address") || !o["address"].is_string())
      return shapeError(where, f + ".address", "a CIDR string");
    ip.address = o["address"].get<std::string>();
    if (!optString(o, "gateway", ip.gateway)) return shapeError(where, f + ".gateway", "a string");
    if (o.contains("interface")) {
      // The index must name an interface of this result (the spec's rule).
      if (!o["interface"].is_number_integer() || o["interface"].get<long long>() < 0 ||
          o["interface"].get<size_t>() >= r.interfaces.size())
        return shapeError(where, f + ".interface", "an index into interfaces");
      ip.interface = o["interface"].get<int>();
    }
    r.ips.push_back(std::move(ip));
  }
  return std::nullopt;
}

std::optional<Error> parseRoutes(const json& j, std::string_view where, CniResult& r) {
  auto it = j.find("routes");
  if (it == j.end()) return std::nullopt;
  if (!it->is_array()) return shapeError(where, ".routes", "an array");
  for (size_t n = 0; n < it->size(); ++n) {
    const json& o = (*it)[n];
    const std::string f = ".routes[" + std::to_string(n) + "]";
    Route rt;
    if (!o.is_object() || !o.contains("dst") || !o["dst"].is_string())
      return shapeError(where, f + ".dst", "a CIDR string");
    rt.dst = o["dst"].get<std::string>();
    if (!optString(o, "gw", rt.gw)) return shapeError(where, f + ".gw", "a string");
    r.routes.push_back(std::move(rt));
  }
  return std::nullopt;
}

}  // namespace

Result<CniResult> parseResult(const json& j, std::string_view where) {
  if (!j.is_object()) return shapeError(where, "", "an object");
  CniResult r;
  if (auto e = parseInterfaces(j, where, r)) return *e;
  if (auto e = parseIps(j, where, r)) return *e;
  if (auto e = parseRoutes(j, where, r)) return *e;
  if (auto it = j.find("dns"); it != j.end()) {
    if (!it->is_object()) return shapeError(where, ".dns", "an object");
    r.dns = *it;
  }
  return r;
}

CniResult mergeResults(CniResult base, const CniResult& add) {
  const int shift = static_cast<int>(base.interfaces.size());
  base.interfaces.insert(base.interfaces.end(), add.interfaces.begin(), add.interfaces.end());
  for (IpConfig ip : add.ips) {
    if (ip.interface >= 0) ip.interface += shift;
    base.ips.push_back(std::move(ip));
  }
  base.routes.insert(base.routes.end(), add.routes.begin(), add.routes.end());
  if (base.dns.empty()) base.dns = add.dns;
  return base;
}

}  // namespace membrane::cni
