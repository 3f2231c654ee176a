// SPDX-License-Identifier: Apache-2.0
#include "sim/agent_manifests.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "model/ip.h"
#include "model/mapstate.h"

namespace membrane::sim {
namespace {

const std::set<std::string> kPodKinds = {
    "Pod",       "Deployment", "ReplicaSet", "StatefulSet",
    "DaemonSet", "Job",        "CronJob",    "ReplicationController"};

std::string kindOf(const YAML::Node& doc) {
  if (!doc.IsMap() || !doc["kind"] || !doc["kind"].IsScalar()) return "";
  return doc["kind"].Scalar();
}

std::string nameOf(const YAML::Node& doc) {
  const YAML::Node meta = doc["metadata"];
  if (!meta.IsMap() || !meta["name"] || !meta["name"].IsScalar()) return "";
  return meta["name"].Scalar();
}

YAML::Node labelMap(const model::StringMap& labels) {
  YAML::Node m(YAML::NodeType::Map);
  for (const auto& [k, v] : labels) m[k] = v;
  return m;
}

YAML::Node podDoc(const model::Cluster& cluster, const model::Pod& p, const Topology& topo) {
  YAML::Node d;
  d["apiVersion"] = "v1";
  d["kind"] = "Pod";
  d["metadata"]["name"] = p.name;
  d["metadata"]["namespace"] = p.namespace_;
  d["metadata"]["labels"] = labelMap(p.labels);
  if (p.workload < cluster.workloads.size()) {
    const model::Workload& w = cluster.workloads[p.workload];
    if (w.kind != "Pod") {
      YAML::Node owner;
      owner["kind"] = w.kind;
      owner["name"] = w.name;
      d["metadata"]["ownerReferences"].push_back(owner);
    }
  }
  if (auto it = topo.pod_node.find(p.ref()); it != topo.pod_node.end()) {
    d["spec"]["nodeName"] = it->second;
  }
  d["spec"]["serviceAccountName"] = p.service_account;
  YAML::Node container;
  container["name"] = "main";
  for (const auto& port : p.ports) {
    YAML::Node cp;
    if (!port.name.empty()) cp["name"] = port.name;
    cp["containerPort"] = port.port;
    cp["protocol"] = std::string(model::protocolName(port.protocol));
    container["ports"].push_back(cp);
  }
  d["spec"]["containers"].push_back(container);
  if (p.ip) d["status"]["podIP"] = model::formatIpv4(*p.ip);
  return d;
}

YAML::Node nodeDoc(YAML::Node base, const TopologyNode& n) {
  YAML::Node d = base ? YAML::Clone(base) : YAML::Node();
  d["apiVersion"] = "v1";
  d["kind"] = "Node";
  d["metadata"]["name"] = n.name;
  YAML::Node addr;
  addr["type"] = "InternalIP";
  addr["address"] = model::formatIpv4(n.ip);
  YAML::Node addrs(YAML::NodeType::Sequence);
  addrs.push_back(addr);
  d["status"]["addresses"] = addrs;
  if (n.pod_cidr) {
    d["spec"]["podCIDR"] = n.pod_cidr->str();
  } else if (d["spec"].IsMap() && d["spec"]["podCIDR"]) {
    d["spec"].remove("podCIDR");
  }
  return d;
}

std::string emitAll(const std::vector<YAML::Node>& docs) {
  YAML::Emitter out;
  for (const auto& d : docs) out << YAML::BeginDoc << d;
  return std::string(out.c_str()) + "\n";
}

}  // namespace

std::map<std::string, std::string> agentManifests(const std::vector<model::ManifestDoc>& docs,
                                                  const model::Cluster& cluster,
                                                  const Topology& topo) {
  std::vector<YAML::Node> objects, nodes, pods;
  std::map<std::string, YAML::Node> node_docs;
  for (const auto& d : docs) {
    const std::string kind = kindOf(d.node);
    if (kPodKinds.count(kind)) continue;
    if (kind == "Node") {
      node_docs[nameOf(d.node)] = d.node;
      continue;
    }
    objects.push_back(d.node);
  }
  for (const auto& n : topo.nodes) {
    auto it = node_docs.find(n.name);
    nodes.push_back(nodeDoc(it == node_docs.end() ? YAML::Node() : it->second, n));
  }
  for (const auto& p : cluster.pods) pods.push_back(podDoc(cluster, p, topo));
  std::map<std::string, std::string> files;
  if (!objects.empty()) files["objects.yaml"] = emitAll(objects);
  if (!nodes.empty()) files["nodes.yaml"] = emitAll(nodes);
  if (!pods.empty()) files["pods.yaml"] = emitAll(pods);
  return files;
}

}  // namespace membrane::sim
