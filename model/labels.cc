// SPDX-License-Identifier: Apache-2.0
#include "model/labels.h"

#include <algorithm>
#include <array>
#include <tuple>

namespace membrane::model {
namespace {
constexpr std::array<std::string_view, 12> kKnownSources = {
    "unspec", "any",       "k8s",  "gen",  "cni",       "reserved",
    "cidr",   "cidrgroup", "node", "fqdn", "directory", "container"};

bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool validName(std::string_view s, size_t max, std::string* why) {
  if (s.empty() || s.size() > max) {
    if (why) *why = "must be 1-" + std::to_string(max) + " characters";
    return false;
  }
  if (!isAlnum(s.front()) || !isAlnum(s.back())) {
    if (why) *why = "must begin and end with an alphanumeric character";
    return false;
  }
  for (char c : s) {
    if (!isAlnum(c) && c != '-' && c != '_' && c != '.') {
      if (why) *why = std::string("contains the invalid character '") + c + "'";
      return false;
    }
  }
  return true;
}
}  // namespace

std::string Label::str() const { return source + ":" + key + (value.empty() ? "" : "=" + value); }

void Labels::add(std::string source, std::string key, std::string value) {
  Label l{std::move(source), std::move(key), std::move(value)};
  auto it = std::lower_bound(labels_.begin(), labels_.end(), l, [](const Label& a, const Label& b) {
    return std::tie(a.source, a.key) < std::tie(b.source, b.key);
  });
  if (it != labels_.end() && it->source == l.source && it->key == l.key) {
    it->value = std::move(l.value);
  } else {
    labels_.insert(it, std::move(l));
  }
}

const Label* Labels::find(std::string_view source, std::string_view key) const {
  if (source == kSourceAny) {
    for (const auto& l : labels_) {
      if (l.key == key) return &l;
    }
    return nullptr;
  }
  for (const auto& l : labels_) {
    if (l.source == source && l.key == key) return &l;
  }
  return nullptr;
}

std::string Labels::str() const {
  std::string s;
  for (const auto& l : labels_) {
    if (!s.empty()) s += ",";
    s += l.str();
  }
  return s;
}

std::pair<std::string, std::string> splitLabelKey(std::string_view key,
                                                  std::string_view default_source) {
  auto colon = key.find(':');
  if (colon != std::string_view::npos) {
    auto src = key.substr(0, colon);
    if (std::find(kKnownSources.begin(), kKnownSources.end(), src) != kKnownSources.end()) {
      std::string s(src == "unspec" ? default_source : src);
      return {s, std::string(key.substr(colon + 1))};
    }
  }
  return {std::string(default_source), std::string(key)};
}

bool validLabelValue(std::string_view value, std::string* why) {
  if (value.empty()) return true;
  return validName(value, 63, why);
}

bool validLabelKey(std::string_view key, std::string* why) {
  auto slash = key.rfind('/');
  std::string_view name = slash == std::string_view::npos ? key : key.substr(slash + 1);
  if (slash != std::string_view::npos) {
    auto prefix = key.substr(0, slash);
    if (prefix.empty() || prefix.size() > 253) {
      if (why) *why = "the prefix before '/' must be 1-253 characters";
      return false;
    }
  }
  return validName(name, 63, why);
}

std::string_view selectorOpName(SelectorOp op) {
  switch (op) {
    case SelectorOp::In:
      return "In";
    case SelectorOp::NotIn:
      return "NotIn";
    case SelectorOp::Exists:
      return "Exists";
    case SelectorOp::DoesNotExist:
      return "DoesNotExist";
  }
  return "?";
}

bool Requirement::matches(const Labels& labels) const {
  const Label* l = labels.find(source, key);
  switch (op) {
    case SelectorOp::Exists:
      return l != nullptr;
    case SelectorOp::DoesNotExist:
      return l == nullptr;
    case SelectorOp::In:
      return l != nullptr && std::binary_search(values.begin(), values.end(), l->value);
    case SelectorOp::NotIn:
      return l == nullptr || !std::binary_search(values.begin(), values.end(), l->value);
  }
  return false;
}

std::string Requirement::str() const {
  std::string k = source + ":" + key;
  if (op == SelectorOp::In && values.size() == 1) return k + "=" + values[0];
  if (op == SelectorOp::Exists) return k;
  if (op == SelectorOp::DoesNotExist) return "!" + k;
  std::string s = k + " " + std::string(selectorOpName(op)) + " (";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + values[i];
  return s + ")";
}

bool LabelSelector::matches(const Labels& labels) const {
  for (const auto& r : requirements) {
    if (!r.matches(labels)) return false;
  }
  return true;
}

bool LabelSelector::mentionsKey(std::string_view key) const {
  return std::any_of(requirements.begin(), requirements.end(),
                     [&](const Requirement& r) { return r.key == key; });
}

bool LabelSelector::mentionsKeyPrefix(std::string_view prefix) const {
  return std::any_of(requirements.begin(), requirements.end(),
                     [&](const Requirement& r) { return r.key.starts_with(prefix); });
}

bool LabelSelector::mentionsSource(std::string_view source) const {
  return std::any_of(requirements.begin(), requirements.end(),
                     [&](const Requirement& r) { return r.source == source; });
}

void LabelSelector::add(Requirement r) {
  std::sort(r.values.begin(), r.values.end());
  r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
  auto it = std::lower_bound(requirements.begin(), requirements.end(), r);
  if (it == requirements.end() || !(*it == r)) requirements.insert(it, std::move(r));
}

std::string LabelSelector::str() const {
  std::string s = "{";
  for (size_t i = 0; i < requirements.size(); ++i) {
    s += (i ? ", " : "") + requirements[i].str();
  }
  return s + "}";
}

}  // namespace membrane::model
