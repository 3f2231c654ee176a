// SPDX-License-Identifier: Apache-2.0
#include "sim/corpus_case.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/manifest_set.h"
#include "model/yaml_guard.h"
#include "model/yaml_util.h"

namespace membrane::sim {
namespace fs = std::filesystem;
using model::Diagnostics;
using model::YamlCtx;

namespace {

std::vector<std::string> splitWs(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

std::optional<Probe> parseProbe(const YamlCtx& ctx, const YAML::Node& n, const std::string& path) {
  ctx.checkKeys(n, path, {"port", "protocol", "table"});
  Probe p;
  p.loc = ctx.loc(n);
  const std::string proto = ctx.str(n, "protocol", path).value_or("TCP");
  if (proto == "TCP") {
    p.protocol = model::kProtoTCP;
  } else if (proto == "UDP") {
    p.protocol = model::kProtoUDP;
  } else if (proto == "SCTP") {
    p.protocol = model::kProtoSCTP;
  } else if (proto == "ICMP") {
    p.protocol = model::kProtoICMP;
  } else {
    ctx.error(n["protocol"], model::joinPath(path, "protocol"),
              "\"" + proto + "\" is not TCP, UDP, SCTP or ICMP");
    return std::nullopt;
  }
  p.port = ctx.str(n, "port", path).value_or("");
  if (p.port.empty() && p.protocol != model::kProtoICMP) {
    ctx.error(n, model::joinPath(path, "port"), "required for " + proto + " probes");
    return std::nullopt;
  }
  auto table = ctx.str(n, "table", path);
  if (!table) {
    ctx.error(n, model::joinPath(path, "table"), "required field is missing");
    return std::nullopt;
  }
  std::istringstream in(*table);
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    auto words = splitWs(line);
    if (words.empty()) continue;
    if (header) {
      p.columns.assign(words.begin() + 1, words.end());
      header = false;
      continue;
    }
    if (words.size() != p.columns.size() + 1) {
      ctx.error(n["table"], model::joinPath(path, "table"),
                "row \"" + words[0] + "\" has " + std::to_string(words.size() - 1) +
                    " cells, expected " + std::to_string(p.columns.size()));
      return std::nullopt;
    }
    std::vector<Cell> row;
    for (size_t i = 1; i < words.size(); ++i) {
      const std::string& w = words[i];
      if (w.size() != 1 || std::string(".XEI#?").find(w[0]) == std::string::npos) {
        ctx.error(n["table"], model::joinPath(path, "table"),
                  "cell \"" + w + "\" in row \"" + words[0] + "\" is not one of . X E I # ?");
        return std::nullopt;
      }
      row.push_back(static_cast<Cell>(w[0]));
    }
    p.rows.push_back(words[0]);
    p.cells.push_back(std::move(row));
  }
  return p;
}

std::vector<std::string> stringList(const YamlCtx& ctx, const YAML::Node& parent, const char* key,
                                    const std::string& path) {
  std::vector<std::string> out;
  YAML::Node l = ctx.seq(parent, key, path);
  if (!l) return out;
  for (size_t i = 0; i < l.size(); ++i) {
    if (l[i].IsScalar()) {
      out.push_back(l[i].Scalar());
    } else {
      ctx.error(l[i], model::indexPath(path, key, i), "expected a string");
    }
  }
  return out;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::optional<CorpusCase> loadCorpusCase(const std::string& dir, Diagnostics& diags) {
  const std::string file = (fs::path(dir) / "expect.yaml").string();
  if (!fs::exists(file)) {
    diags.error({.loc = {.file = file}, .message = "no such file (a case needs expect.yaml)"});
    return std::nullopt;
  }
  auto doc = model::loadYamlFile(file, diags);
  if (!doc) return std::nullopt;
  YAML::Node root = *doc;
  YamlCtx ctx(file, "case " + fs::path(dir).filename().string(), &diags);
  if (!root.IsMap()) {
    ctx.error(root, "", "expected a map");
    return std::nullopt;
  }
  ctx.checkKeys(root, "", {"description", "peers", "steps"});
  CorpusCase c{.dir = dir};
  c.description = ctx.str(root, "description", "").value_or("");
  YAML::Node peers = ctx.map(root, "peers", "");
  if (peers) {
    for (const auto& kv : peers) c.peers[kv.first.Scalar()] = kv.second.Scalar();
  }
  YAML::Node steps = ctx.seq(root, "steps", "");
  if (!steps) {
    ctx.error(root, "steps", "required field is missing");
    return std::nullopt;
  }
  const size_t errors_before = diags.errors().size();
  for (size_t i = 0; i < steps.size(); ++i) {
    const std::string sp = model::indexPath("", "steps", i);
    ctx.checkKeys(steps[i], sp, {"name", "apply", "delete", "relabel", "probes"});
    Step s;
    s.name = ctx.str(steps[i], "name", sp).value_or("step-" + std::to_string(i));
    s.apply = stringList(ctx, steps[i], "apply", sp);
    s.remove = stringList(ctx, steps[i], "delete", sp);
    YAML::Node rl = ctx.seq(steps[i], "relabel", sp);
    if (rl) {
      for (size_t j = 0; j < rl.size(); ++j) {
        const std::string rp = model::indexPath(sp, "relabel", j);
        Relabel r{.object = ctx.str(rl[j], "object", rp).value_or("")};
        YAML::Node labels = ctx.map(rl[j], "labels", rp);
        if (labels) {
          for (const auto& kv : labels) r.labels[kv.first.Scalar()] = kv.second.Scalar();
        }
        s.relabel.push_back(std::move(r));
      }
    }
    YAML::Node probes = ctx.seq(steps[i], "probes", sp);
    if (probes) {
      for (size_t j = 0; j < probes.size(); ++j) {
        if (auto p = parseProbe(ctx, probes[j], model::indexPath(sp, "probes", j))) {
          s.probes.push_back(std::move(*p));
        }
      }
    }
    c.steps.push_back(std::move(s));
  }
  if (diags.errors().size() != errors_before) return std::nullopt;
  return c;
}

namespace {
// The manifest sets of steps 0..step: manifests.yaml, then each step's `apply` files as one
// set (kubectl apply: a later set's object replaces the one with the same identity).
std::optional<std::vector<std::vector<model::ManifestText>>> caseSets(const CorpusCase& c,
                                                                      size_t step,
                                                                      Diagnostics& diags) {
  std::vector<std::vector<model::ManifestText>> sets;
  bool missing = false;
  auto text = [&](const std::string& f) {
    if (!fs::is_regular_file(f)) {
      diags.error({.loc = {.file = f}, .message = "no such file"});
      missing = true;
    }
    return model::ManifestText{f, readFile(f)};
  };
  sets.push_back({text((fs::path(c.dir) / "manifests.yaml").string())});
  for (size_t i = 0; i <= step && i < c.steps.size(); ++i) {
    std::vector<model::ManifestText> set;
    for (const auto& a : c.steps[i].apply) set.push_back(text((fs::path(c.dir) / a).string()));
    sets.push_back(std::move(set));
  }
  if (missing) return std::nullopt;
  return sets;
}

// Deletes and relabels of step `i` on the applied documents.
void editStep(const Step& st, std::vector<model::ManifestDoc>& docs) {
  for (const auto& del : st.remove) {
    std::vector<model::ManifestDoc> kept;  // rebuilt: see applyManifestSet on YAML::Node
    for (const auto& d : docs) {
      if (model::objectIdentity(d.node) != del) kept.push_back(d);
    }
    docs = std::move(kept);
  }
  for (const auto& rl : st.relabel) {
    for (auto& d : docs) {
      if (model::objectIdentity(d.node) == rl.object) {
        YAML::Node labels;
        for (const auto& [k, v] : rl.labels) labels[k] = v;
        d.node["metadata"]["labels"] = labels;
      }
    }
  }
}
}  // namespace

std::optional<std::vector<model::ManifestDoc>> caseDocs(const CorpusCase& c, size_t step,
                                                        Diagnostics& diags) {
  const size_t errors_before = diags.errors().size();
  auto sets = caseSets(c, step, diags);
  if (!sets) return std::nullopt;
  std::vector<model::ManifestDoc> docs;
  try {
    for (size_t si = 0; si < sets->size(); ++si) {
      std::vector<model::ManifestDoc> incoming;
      for (const auto& t : (*sets)[si]) {
        auto parsed = model::parseManifestDocs(t.name, t.text, diags);
        incoming.insert(incoming.end(), parsed.begin(), parsed.end());
      }
      docs = model::applyManifestSet(docs, incoming, diags);
      if (si > 0) editStep(c.steps[si - 1], docs);
    }
  } catch (const YAML::Exception& e) {
    diags.error({.loc = {.file = c.dir}, .message = std::string("cannot apply step: ") + e.what()});
  }
  if (diags.errors().size() != errors_before) return std::nullopt;
  return docs;
}

model::LoadResult loadCaseCluster(const CorpusCase& c, size_t step,
                                  const model::ClusterOptions& options) {
  model::LoadResult refused;
  bool mutated = false;
  for (size_t i = 0; i <= step && i < c.steps.size(); ++i) {
    mutated |= !c.steps[i].remove.empty() || !c.steps[i].relabel.empty();
  }
  if (!mutated) {
    auto sets = caseSets(c, step, refused.diags);
    if (!sets) return refused;
    return model::loadClusterFromSets(*sets, options);
  }
  // Steps that delete or relabel objects: apply the sets and edit the documents step by
  // step, then load the result (one set: the edits left no duplicate).
  auto docs = caseDocs(c, step, refused.diags);
  if (!docs) return refused;
  std::vector<model::ManifestText> texts;
  for (const auto& d : *docs) {
    YAML::Emitter out;
    out << d.node;
    texts.push_back({d.file + " (edited by step)", out.c_str()});
  }
  return model::loadClusterFromTexts(texts, options);
}

std::optional<model::FlowEndpoint> resolveCaseEndpoint(const CorpusCase& c,
                                                       const model::Cluster& cluster,
                                                       const std::string& name, std::string* why) {
  if (auto it = c.peers.find(name); it != c.peers.end()) {
    const std::string& v = it->second;
    if (v.starts_with("node:")) {
      const model::NodeInfo* n = cluster.findNode(v.substr(5));
      if (!n || !n->internal_ip) {
        *why = "peer " + name + ": node " + v.substr(5) + " has no InternalIP";
        return std::nullopt;
      }
      return model::FlowEndpoint{.ip = *n->internal_ip};
    }
    auto ip = model::parseIpv4(v);
    if (!ip) {
      *why = "peer " + name + ": \"" + v + "\" is not an IPv4 address or node:NAME";
      return std::nullopt;
    }
    if (auto pod = cluster.findPodByIp(*ip)) return model::FlowEndpoint{.pod = pod, .ip = *ip};
    return model::FlowEndpoint{.ip = *ip};
  }
  auto slash = name.find('/');
  if (slash != std::string::npos) {
    if (auto pod = cluster.findPod(name.substr(0, slash), name.substr(slash + 1))) {
      return model::FlowEndpoint{.pod = pod, .ip = cluster.pods[*pod].ip.value_or(0)};
    }
  }
  *why = "\"" + name + "\" is neither a pod (namespace/name) nor a peer of the case";
  return std::nullopt;
}

bool cellMatches(Cell expected, Cell observed) {
  switch (expected) {
    case Cell::Skip:
    case Cell::Any:
      return true;
    case Cell::Allowed:
      return observed == Cell::Allowed;
    case Cell::Blocked:
      return observed != Cell::Allowed;
    case Cell::Egress:
    case Cell::Ingress:
      return observed == expected;
  }
  return false;
}

}  // namespace membrane::sim
