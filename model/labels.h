// SPDX-License-Identifier: Apache-2.0
// Labels with Cilium sources (k8s:, reserved:, cidr:, any: ...) and label selectors.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace membrane::model {

inline constexpr std::string_view kSourceK8s = "k8s";
inline constexpr std::string_view kSourceReserved = "reserved";
inline constexpr std::string_view kSourceAny = "any";
inline constexpr std::string_view kSourceCidr = "cidr";

// Labels Cilium derives for every pod.
inline constexpr std::string_view kLabelPodNamespace = "io.kubernetes.pod.namespace";
inline constexpr std::string_view kLabelCluster = "io.cilium.k8s.policy.cluster";
inline constexpr std::string_view kLabelServiceAccount = "io.cilium.k8s.policy.serviceaccount";
inline constexpr std::string_view kLabelNamespaceLabelsPrefix = "io.cilium.k8s.namespace.labels.";

struct Label {
  std::string source;
  std::string key;
  std::string value;
  std::string str() const;  // "source:key=value"
  auto operator<=>(const Label&) const = default;
};

// A sorted set of labels; at most one value per (source, key).
class Labels {
 public:
  Labels() = default;
  void add(std::string source, std::string key, std::string value);
  // The label with this key; source "any" matches every source.
  const Label* find(std::string_view source, std::string_view key) const;
  const std::vector<Label>& all() const { return labels_; }
  bool empty() const { return labels_.empty(); }
  std::string str() const;  // "k8s:a=b,k8s:c=d"
  auto operator<=>(const Labels&) const = default;

 private:
  std::vector<Label> labels_;  // sorted by (source, key)
};

// Splits "k8s:app" into {"k8s", "app"}; a key without a known source gets `default_source`.
std::pair<std::string, std::string> splitLabelKey(std::string_view key,
                                                  std::string_view default_source);

// Whether `value` is a valid Kubernetes label value (empty, or <=63 chars of [A-Za-z0-9._-]
// beginning and ending alphanumeric). `why` receives the reason when it is not.
bool validLabelValue(std::string_view value, std::string* why);
// Whether `key` is a valid label key ([prefix/]name).
bool validLabelKey(std::string_view key, std::string* why);

enum class SelectorOp { In, NotIn, Exists, DoesNotExist };
std::string_view selectorOpName(SelectorOp op);

struct Requirement {
  std::string source;  // "k8s", "reserved", "any", ...
  std::string key;
  SelectorOp op = SelectorOp::In;
  std::vector<std::string> values;  // sorted
  bool matches(const Labels& labels) const;
  std::string str() const;
  auto operator<=>(const Requirement&) const = default;
};

// matchLabels and matchExpressions, ANDed. No requirements selects everything.
struct LabelSelector {
  std::vector<Requirement> requirements;  // sorted, unique
  bool matches(const Labels& labels) const;
  bool empty() const { return requirements.empty(); }
  bool mentionsKey(std::string_view key) const;
  bool mentionsKeyPrefix(std::string_view prefix) const;
  bool mentionsSource(std::string_view source) const;
  void add(Requirement r);
  std::string str() const;  // "{k8s:app=web, k8s:tier In (a,b)}", "{}" when empty
  auto operator<=>(const LabelSelector&) const = default;
};

}  // namespace membrane::model
