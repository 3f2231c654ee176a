// SPDX-License-Identifier: Apache-2.0
#include "sim/corpus_case.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

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
      if (w.size() != 1 || std::string(".XEI#").find(w[0]) == std::string::npos) {
        ctx.error(n["table"], model::joinPath(path, "table"),
                  "cell \"" + w + "\" in row \"" + words[0] + "\" is not one of . X E I #");
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

model::LoadResult loadCaseCluster(const CorpusCase& c, size_t step,
                                  const model::ClusterOptions& options) {
  const std::string main = (fs::path(c.dir) / "manifests.yaml").string();
  bool mutated = false;
  for (size_t i = 0; i <= step && i < c.steps.size(); ++i) {
    mutated |= !c.steps[i].remove.empty() || !c.steps[i].relabel.empty();
  }
  std::vector<model::ManifestText> texts;
  if (!mutated) {
    if (!fs::exists(main)) {
      model::LoadResult r;
      r.diags.error({.loc = {.file = main}, .message = "no such file"});
      return r;
    }
    texts.push_back({main, readFile(main)});
    for (size_t i = 0; i <= step && i < c.steps.size(); ++i) {
      for (const auto& a : c.steps[i].apply) {
        const std::string f = (fs::path(c.dir) / a).string();
        texts.push_back({f, readFile(f)});
      }
    }
    return model::loadClusterFromTexts(texts, options);
  }
  // Steps that delete or relabel objects: edit the documents, then load the result.
  std::vector<std::pair<std::string, YAML::Node>> docs;
  model::LoadResult refused;
  auto add_file = [&](const std::string& f) {
    const std::string text = readFile(f);
    if (auto bad = model::checkYamlSyntax(text, f)) {
      refused.diags.error(std::move(*bad));
      return;
    }
    for (const auto& d : YAML::LoadAll(text)) docs.push_back({f, d});
  };
  try {
    add_file(main);
    for (size_t i = 0; i <= step && i < c.steps.size(); ++i) {
      for (const auto& a : c.steps[i].apply) add_file((fs::path(c.dir) / a).string());
      auto id_of = [](const YAML::Node& d) {
        std::string ns = d["metadata"]["namespace"] ? d["metadata"]["namespace"].Scalar() : "";
        return d["kind"].Scalar() + "/" + (ns.empty() ? "" : ns + "/") +
               d["metadata"]["name"].Scalar();
      };
      for (const auto& del : c.steps[i].remove) {
        // Rebuild instead of erasing in place: assigning a YAML::Node re-points it at the
        // other node's data rather than copying, so shifting elements would alias documents.
        std::vector<std::pair<std::string, YAML::Node>> kept;
        for (const auto& d : docs) {
          if (!(d.second.IsMap() && id_of(d.second) == del)) kept.push_back(d);
        }
        docs = std::move(kept);
      }
      for (const auto& rl : c.steps[i].relabel) {
        for (auto& d : docs) {
          if (d.second.IsMap() && id_of(d.second) == rl.object) {
            YAML::Node labels;
            for (const auto& [k, v] : rl.labels) labels[k] = v;
            d.second["metadata"]["labels"] = labels;
          }
        }
      }
    }
  } catch (const YAML::Exception& e) {
    model::LoadResult r;
    r.diags.error(
        {.loc = {.file = main}, .message = std::string("cannot apply step: ") + e.what()});
    return r;
  }
  if (!refused.diags.ok()) return refused;
  for (const auto& [f, d] : docs) {
    YAML::Emitter out;
    out << d;
    texts.push_back({f + " (edited by step)", out.c_str()});
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
