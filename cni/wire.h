// SPDX-License-Identifier: Apache-2.0
// CNI wire types (spec 1.1.0, and 1.0.0 / 0.4.0): versions, the error object with its codes,
// the ADD result per version. Network configuration: cni/netconf.h; environment: cni/env.h.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace membrane::cni {

enum class Version { V0_4_0, V1_0_0, V1_1_0 };
inline constexpr std::array<std::string_view, 3> kSupportedVersions = {"0.4.0", "1.0.0", "1.1.0"};
std::optional<Version> parseVersion(std::string_view text);
std::string_view versionString(Version v);

// Error codes: 1-11 and 50/51 are the spec's, 60+ are membrane-cni's (docs/cni.md).
enum class Code : int {
  IncompatibleVersion = 1,
  UnsupportedField = 2,
  UnknownContainer = 3,
  InvalidEnvironment = 4,
  IoFailure = 5,
  DecodeFailure = 6,
  InvalidNetworkConfig = 7,
  TryAgainLater = 11,
  PluginNotAvailable = 50,  // STATUS: cannot service ADD now
  CheckFailed = 60,         // CHECK: the endpoint differs from what was recorded
  AgentProtocol = 61,       // the agent answered something the contract does not allow
  AgentInternal = 999,      // the agent failed a kernel or state operation (rolled back)
};

struct Error {
  Code code = Code::AgentInternal;
  std::string msg;      // short, what failed
  std::string details;  // why, with file:line:column and the field where there is one
};

// The spec's error object: {"cniVersion", "code", "msg", "details"}.
nlohmann::json errorJson(const Error& e, std::string_view cniVersion);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// The ADD result (and prevResult). One shape in memory; toJson() writes the version's shape:
// 0.4.0 has ips[].version, 1.x not; interfaces[].mtu exists from 1.1.0.
struct Interface {
  std::string name;
  std::string mac;      // empty: omitted
  std::string sandbox;  // empty: a host interface
  int mtu = 0;          // 0: omitted
};
struct IpConfig {
  std::string address;  // CIDR, "10.0.1.7/32"
  std::string gateway;  // empty: omitted
  int interface = -1;   // index into interfaces, -1: omitted
};
struct Route {
  std::string dst;  // CIDR
  std::string gw;   // empty: omitted
};
struct CniResult {
  std::vector<Interface> interfaces;
  std::vector<IpConfig> ips;
  std::vector<Route> routes;
  nlohmann::json dns = nlohmann::json::object();
};

nlohmann::json toJson(const CniResult& r, Version v);
// Accepts any supported version's shape; `where` names the source in errors ("prevResult").
Result<CniResult> parseResult(const nlohmann::json& j, std::string_view where);
// Appends `add` after `base`, shifting its interface indices (chained ADD).
CniResult mergeResults(CniResult base, const CniResult& add);

}  // namespace membrane::cni
