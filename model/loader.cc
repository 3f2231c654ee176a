// SPDX-License-Identifier: Apache-2.0
#include "model/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "model/loader_internal.h"
#include "model/yaml_guard.h"
#include "model/yaml_util.h"

namespace membrane::model {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kWorkloadKinds[] = {
    "Deployment", "ReplicaSet", "StatefulSet",          "DaemonSet",
    "Job",        "CronJob",    "ReplicationController"};

bool isWorkloadKind(std::string_view k) {
  return std::find(std::begin(kWorkloadKinds), std::end(kWorkloadKinds), k) !=
         std::end(kWorkloadKinds);
}

std::string objectName(std::string_view kind, const std::string& ns, const std::string& name) {
  std::string s(kind);
  s += " ";
  if (!ns.empty()) s += ns + "/";
  s += name.empty() ? "<unnamed>" : name;
  return s;
}

}  // namespace

uint8_t parseProtocolName(const YamlCtx& ctx, const YAML::Node& parent, std::string_view path,
                          bool* ok) {
  *ok = true;
  auto p = ctx.str(parent, "protocol", path);
  if (!p || *p == "TCP") return kProtoTCP;
  if (*p == "UDP") return kProtoUDP;
  if (*p == "SCTP") return kProtoSCTP;
  ctx.error(parent["protocol"], joinPath(path, "protocol"),
            "\"" + *p + "\" is not a protocol; expected TCP, UDP or SCTP");
  *ok = false;
  return kProtoTCP;
}

void decodeLabelMap(const YamlCtx& ctx, const YAML::Node& n, std::string_view path,
                    StringMap& out) {
  if (!isPresent(n)) return;
  if (!n.IsMap()) {
    ctx.error(n, path, "expected a map of labels, got " + std::string(yamlTypeName(n)));
    return;
  }
  for (const auto& kv : n) {
    const std::string key = kv.first.Scalar();
    const std::string field = joinPath(path, key);
    std::string why;
    if (!validLabelKey(key, &why)) {
      ctx.error(kv.first, field, "invalid label key \"" + key + "\": " + why);
      continue;
    }
    if (!kv.second.IsScalar() && !kv.second.IsNull()) {
      ctx.error(kv.second, field,
                "expected a string label value, got " + std::string(yamlTypeName(kv.second)));
      continue;
    }
    std::string value = kv.second.IsNull() ? "" : kv.second.Scalar();
    if (!validLabelValue(value, &why)) {
      ctx.error(kv.second, field, "invalid label value \"" + value + "\": " + why);
      continue;
    }
    out[key] = value;
  }
}

namespace {

// Decodes containers[].ports[] of a pod spec.
std::vector<ContainerPort> decodeContainerPorts(const YamlCtx& ctx, const YAML::Node& spec,
                                                std::string_view path) {
  std::vector<ContainerPort> out;
  for (const char* field : {"initContainers", "containers"}) {
    YAML::Node cs = ctx.seq(spec, field, path);
    if (!cs) continue;
    for (size_t i = 0; i < cs.size(); ++i) {
      const std::string cpath = indexPath(path, field, i);
      YAML::Node ports = ctx.seq(cs[i], "ports", cpath);
      if (!ports) continue;
      for (size_t j = 0; j < ports.size(); ++j) {
        const std::string ppath = indexPath(cpath, "ports", j);
        const YAML::Node& p = ports[j];
        ContainerPort cp;
        auto num = ctx.integer(p, "containerPort", ppath, 1, 65535);
        if (!num) {
          if (!isPresent(p["containerPort"])) {
            // Workload manifests are read leniently (as kubectl would show them); a port
            // without a number cannot be used and is dropped with a warning.
            ctx.warning(p, joinPath(ppath, "containerPort"), "missing; this port is ignored");
          }
          continue;
        }
        cp.port = static_cast<uint16_t>(*num);
        cp.name = ctx.str(p, "name", ppath).value_or("");
        bool ok = true;
        cp.protocol = parseProtocolName(ctx, p, ppath, &ok);
        if (ok) out.push_back(cp);
      }
    }
  }
  return out;
}

struct PodTemplate {
  StringMap labels;
  std::vector<ContainerPort> ports;
  std::string service_account = "default";
  std::string node_name;
};

PodTemplate decodePodSpecParts(const YamlCtx& ctx, const YAML::Node& meta, const YAML::Node& spec,
                               std::string_view meta_path, std::string_view spec_path) {
  PodTemplate t;
  if (meta) decodeLabelMap(ctx, meta["labels"], joinPath(meta_path, "labels"), t.labels);
  if (spec) {
    t.ports = decodeContainerPorts(ctx, spec, spec_path);
    auto sa = ctx.str(spec, "serviceAccountName", spec_path);
    if (!sa) sa = ctx.str(spec, "serviceAccount", spec_path);
    if (sa && !sa->empty()) t.service_account = *sa;
    t.node_name = ctx.str(spec, "nodeName", spec_path).value_or("");
  }
  return t;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

void Builder::addDocument(const YAML::Node& doc, const std::string& file) {
  if (!isPresent(doc)) return;
  YamlCtx ctx(file, "", &diags);
  if (!doc.IsMap()) {
    ctx.error(doc, "",
              "expected a Kubernetes object (a map), got " + std::string(yamlTypeName(doc)));
    return;
  }
  auto kind = ctx.str(doc, "kind", "");
  auto api = ctx.str(doc, "apiVersion", "");
  YAML::Node meta = ctx.map(doc, "metadata", "");
  const std::string name = ctx.str(meta, "name", "metadata").value_or("");
  const std::string ns = ctx.str(meta, "namespace", "metadata").value_or("");
  ctx.setObject(objectName(kind.value_or("<no kind>"), ns, name));
  if (!kind) {
    ctx.error(doc, "kind", "required field is missing");
    return;
  }
  if (*kind == "List" || kind->ends_with("List")) {
    // Items of a typed list (PodList, NamespaceList) may omit kind and apiVersion.
    YAML::Node items = ctx.seq(doc, "items", "");
    const std::string item_kind = kind->substr(0, kind->size() - 4);
    if (items) {
      for (YAML::Node item : items) {
        if (item.IsMap() && !item_kind.empty() && !isPresent(item["kind"])) {
          item["kind"] = item_kind;
          if (!isPresent(item["apiVersion"])) item["apiVersion"] = api.value_or("v1");
        }
        addDocument(item, file);
      }
    }
    return;
  }
  if (!api) {
    ctx.error(doc, "apiVersion", "required field is missing");
    return;
  }
  if (api->starts_with("membrane/")) return;  // membrane's own files (invariants) beside manifests
  RawObject obj{.kind = *kind,
                .api_version = *api,
                .name = name,
                .ns = ns,
                .node = doc,
                .file = file,
                .loc = ctx.loc(doc)};
  if (*kind == "NetworkPolicy" || *kind == "CiliumNetworkPolicy" ||
      *kind == "CiliumClusterwideNetworkPolicy") {
    if (name.empty()) ctx.error(meta ? meta : doc, "metadata.name", "required field is missing");
    policy_objects.push_back(std::move(obj));
    return;
  }
  if (*kind != "Namespace" && *kind != "Node" && *kind != "CiliumCIDRGroup" && name.empty()) {
    ctx.error(meta ? meta : doc, "metadata.name", "required field is missing");
    return;
  }
  if (*kind == "Namespace") {
    addNamespace(ctx, obj);
  } else if (*kind == "Node") {
    addNode(ctx, obj);
  } else if (*kind == "Pod") {
    addPod(ctx, obj);
  } else if (isWorkloadKind(*kind)) {
    addWorkload(ctx, obj);
  } else if (*kind == "Service") {
    addService(ctx, obj);
  } else if (*kind == "EndpointSlice") {
    addEndpointSlice(ctx, obj);
  } else if (*kind == "CiliumCIDRGroup") {
    addCidrGroup(ctx, obj);
  } else {
    if (cluster.ignored_kinds[*kind]++ == 0) {
      ctx.warning(doc, "kind", "kind \"" + *kind + "\" is not modelled; objects of it are ignored");
    }
  }
}

void Builder::addNamespace(const YamlCtx& ctx, const RawObject& o) {
  if (o.name.empty()) {
    ctx.error(o.node, "metadata.name", "required field is missing");
    return;
  }
  Namespace n{.name = o.name, .loc = o.loc};
  decodeLabelMap(ctx, o.node["metadata"]["labels"], "metadata.labels", n.labels);
  // The API server labels every namespace with its name.
  n.labels.emplace("kubernetes.io/metadata.name", o.name);
  for (auto& existing : cluster.namespaces) {
    if (existing.name == o.name) {
      existing = n;
      return;
    }
  }
  cluster.namespaces.push_back(std::move(n));
}

void Builder::addNode(const YamlCtx& ctx, const RawObject& o) {
  NodeInfo n{.name = o.name, .loc = o.loc};
  decodeLabelMap(ctx, o.node["metadata"]["labels"], "metadata.labels", n.labels);
  YAML::Node spec = ctx.map(o.node, "spec", "");
  if (auto c = ctx.str(spec, "podCIDR", "spec")) {
    std::string why;
    n.pod_cidr = parseCidr(*c, &why);
    if (!n.pod_cidr) ctx.error(spec["podCIDR"], "spec.podCIDR", why);
  }
  YAML::Node status = ctx.map(o.node, "status", "");
  YAML::Node addrs = ctx.seq(status, "addresses", "status");
  if (addrs) {
    for (size_t i = 0; i < addrs.size(); ++i) {
      const std::string p = indexPath("status", "addresses", i);
      if (ctx.str(addrs[i], "type", p).value_or("") != "InternalIP") continue;
      auto a = ctx.str(addrs[i], "address", p).value_or("");
      n.internal_ip = parseIpv4(a);
      if (!n.internal_ip && a.find(':') == std::string::npos) {
        ctx.error(addrs[i]["address"], joinPath(p, "address"),
                  "\"" + a + "\" is not an IPv4 address");
      }
    }
  }
  cluster.nodes.push_back(std::move(n));
}

void Builder::addPod(const YamlCtx& ctx, const RawObject& o) {
  YAML::Node meta = o.node["metadata"];
  YAML::Node spec = ctx.map(o.node, "spec", "");
  PodTemplate t = decodePodSpecParts(ctx, meta, spec, "metadata", "spec");
  Pod p{.namespace_ = o.ns.empty() ? "default" : o.ns,
        .name = o.name,
        .labels = t.labels,
        .node_name = t.node_name,
        .service_account = t.service_account,
        .ports = t.ports,
        .loc = o.loc};
  YAML::Node status = ctx.map(o.node, "status", "");
  if (auto ip = ctx.str(status, "podIP", "status")) {
    p.ip = parseIpv4(*ip);
    if (!p.ip && ip->find(':') == std::string::npos) {
      ctx.error(status["podIP"], "status.podIP", "\"" + *ip + "\" is not an IPv4 address");
    }
  }
  // Owner: pods of the same owner form one workload, named after it.
  // Owner: pods of the same workload owner form one workload named after it. Owners that
  // are not workloads (a Node owns static pods) leave the pod on its own; an owner without
  // a kind groups its pods under kind Pod.
  std::string owner_kind = "Pod";
  std::string owner_name = p.name;
  YAML::Node owners = ctx.seq(meta, "ownerReferences", "metadata");
  if (owners && owners.size() > 0) {
    const std::string k = ctx.str(owners[0], "kind", "metadata.ownerReferences[0]").value_or("");
    const std::string n = ctx.str(owners[0], "name", "metadata.ownerReferences[0]").value_or("");
    if (!n.empty() && (k.empty() || isWorkloadKind(k))) {
      owner_kind = k.empty() ? "Pod" : k;
      owner_name = n;
    }
  }
  const std::string key = p.namespace_ + "/" + owner_kind + "/" + owner_name;
  auto it = owner_workload_.find(key);
  if (it == owner_workload_.end()) {
    Workload w{.kind = owner_kind,
               .namespace_ = p.namespace_,
               .name = owner_name,
               .replicas = 0,
               .labels = p.labels,
               .ports = p.ports,
               .service_account = p.service_account,
               .node_name = p.node_name,
               .loc = o.loc};
    cluster.workloads.push_back(std::move(w));
    it = owner_workload_.insert_or_assign(key, cluster.workloads.size() - 1).first;
  }
  p.workload = it->second;
  cluster.workloads[p.workload].replicas++;
  cluster.pods.push_back(std::move(p));
}

void Builder::addWorkload(const YamlCtx& ctx, const RawObject& o) {
  YAML::Node spec = ctx.map(o.node, "spec", "");
  std::string spec_path = "spec";
  YAML::Node inner = spec;
  if (o.kind == "CronJob") {
    YAML::Node jt = ctx.map(spec, "jobTemplate", "spec");
    inner = ctx.map(jt, "spec", "spec.jobTemplate");
    spec_path = "spec.jobTemplate.spec";
  }
  YAML::Node tmpl = ctx.map(inner, "template", spec_path);
  const std::string tpath = joinPath(spec_path, "template");
  if (!tmpl) {
    ctx.warning(inner ? inner : o.node, tpath,
                "missing: the workload has no pod template, so it has no pods and is ignored");
    return;
  }
  YAML::Node tmeta = ctx.map(tmpl, "metadata", tpath);
  YAML::Node tspec = ctx.map(tmpl, "spec", tpath);
  PodTemplate t =
      decodePodSpecParts(ctx, tmeta, tspec, joinPath(tpath, "metadata"), joinPath(tpath, "spec"));
  Workload w{.kind = o.kind,
             .namespace_ = o.ns.empty() ? "default" : o.ns,
             .name = o.name,
             .labels = t.labels,
             .ports = t.ports,
             .service_account = t.service_account,
             .node_name = t.node_name,
             .loc = o.loc};
  if (o.kind == "DaemonSet") {
    w.replicas = -1;  // one per node, expanded in finish()
  } else if (o.kind == "Job" || o.kind == "CronJob") {
    w.replicas =
        static_cast<int>(ctx.integer(inner, "parallelism", spec_path, 0, 100000).value_or(1));
  } else {
    w.replicas = static_cast<int>(ctx.integer(spec, "replicas", "spec", 0, 1000000).value_or(1));
  }
  cluster.workloads.push_back(std::move(w));
  expand_workloads_.push_back(cluster.workloads.size() - 1);
}

void Builder::addCidrGroup(const YamlCtx& ctx, const RawObject& o) {
  CidrGroup g{.name = o.name, .loc = o.loc};
  decodeLabelMap(ctx, o.node["metadata"]["labels"], "metadata.labels", g.labels);
  YAML::Node spec = ctx.map(o.node, "spec", "");
  YAML::Node cidrs = ctx.seq(spec, "externalCIDRs", "spec");
  if (cidrs) {
    for (size_t i = 0; i < cidrs.size(); ++i) {
      std::string why;
      auto c = cidrs[i].IsScalar() ? parseCidr(cidrs[i].Scalar(), &why) : std::nullopt;
      if (!c) {
        ctx.error(cidrs[i], indexPath("spec", "externalCIDRs", i),
                  why.empty() ? "expected a CIDR string" : why);
        continue;
      }
      g.cidrs.push_back(*c);
    }
  }
  cluster.cidr_groups.push_back(std::move(g));
}

// ---------------------------------------------------------------------------------------------

std::vector<std::string> collectManifestFiles(const std::vector<std::string>& paths,
                                              Diagnostics& diags) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::end(it);
           it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        auto ext = it->path().extension().string();
        const auto name = it->path().filename().string();
        // A scenario directory also holds membrane's own files: not manifests.
        if (name == "expect.yaml" || name == "scenario.yaml") continue;
        if (ext == ".yaml" || ext == ".yml" || ext == ".json") found.push_back(it->path().string());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      diags.error({.loc = {.file = p}, .message = "no such file or directory"});
    }
  }
  return files;
}

void Builder::addDocs(const std::vector<ManifestDoc>& docs) {
  for (const auto& d : docs) {
    try {
      addDocument(d.node, d.file);
    } catch (const YAML::Exception& e) {
      // Defensive: a shape the decoders did not anticipate is reported, never a crash.
      diags.error({.loc = {.file = d.file, .line = e.mark.line + 1, .column = e.mark.column + 1},
                   .message = "cannot decode document: " + e.msg});
    }
  }
}

LoadResult loadClusterFromSets(const std::vector<std::vector<ManifestText>>& sets,
                               const ClusterOptions& options) {
  Builder b;
  b.cluster.options = options;
  std::vector<ManifestDoc> docs;
  for (const auto& set : sets) {
    std::vector<ManifestDoc> incoming;
    for (const auto& t : set) {
      auto parsed = parseManifestDocs(t.name, t.text, b.diags);
      incoming.insert(incoming.end(), parsed.begin(), parsed.end());
    }
    docs = applyManifestSet(docs, incoming, b.diags);
  }
  b.addDocs(docs);
  b.finish();
  return {.cluster = std::move(b.cluster), .diags = std::move(b.diags)};
}

LoadResult loadClusterFromDocs(const std::vector<ManifestDoc>& docs, const Diagnostics& parse_diags,
                               const ClusterOptions& options) {
  Builder b;
  b.cluster.options = options;
  b.diags = parse_diags;
  b.addDocs(applyManifestSet({}, docs, b.diags));
  b.finish();
  return {.cluster = std::move(b.cluster), .diags = std::move(b.diags)};
}

LoadResult loadCluster(const std::vector<std::string>& paths, const ClusterOptions& options) {
  Diagnostics read_errors;
  std::vector<ManifestText> texts;
  for (const auto& f : collectManifestFiles(paths, read_errors)) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      read_errors.error({.loc = {.file = f}, .message = "cannot be read"});
      continue;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    texts.push_back({f, ss.str()});
  }
  LoadResult r = loadClusterFromSets({texts}, options);
  read_errors.merge(r.diags);
  r.diags = std::move(read_errors);
  return r;
}

LoadResult loadClusterFromTexts(const std::vector<ManifestText>& texts,
                                const ClusterOptions& options) {
  return loadClusterFromSets({texts}, options);
}

}  // namespace membrane::model
