// SPDX-License-Identifier: Apache-2.0
// Decoding of Service and EndpointSlice objects. Unlike workload manifests (read leniently, as
// kubectl shows them), these are checked as the API server would: unknown fields, impossible
// ports, bad addresses and duplicate port names are load errors, because a Service that loads
// differently from the cluster's would make every answer about it wrong.
#include <algorithm>
#include <set>

#include "model/loader_internal.h"

namespace membrane::model {

std::string_view serviceTypeName(ServiceType t) {
  switch (t) {
    case ServiceType::ClusterIP:
      return "ClusterIP";
    case ServiceType::NodePort:
      return "NodePort";
    case ServiceType::LoadBalancer:
      return "LoadBalancer";
  }
  return "?";
}

std::string_view trafficPolicyName(TrafficPolicy t) {
  return t == TrafficPolicy::Local ? "Local" : "Cluster";
}

namespace {

// An IANA service name as Kubernetes validates a named targetPort: 1-15 characters of [a-z0-9-],
// at least one letter, no leading, trailing or doubled '-'.
bool validPortName(const std::string& s) {
  if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-') return false;
  if (s.find("--") != std::string::npos) return false;
  bool letter = false;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') {
      letter = true;
    } else if (!(c >= '0' && c <= '9') && c != '-') {
      return false;
    }
  }
  return letter;
}

// An IPv4 address field; IPv6 text is not modelled (warning), anything else is an error.
std::optional<Ipv4> decodeAddress(const YamlCtx& ctx, const YAML::Node& n,
                                  const std::string& path) {
  if (!n.IsScalar()) {
    ctx.error(n, path, "expected an IPv4 address, got " + std::string(yamlTypeName(n)));
    return std::nullopt;
  }
  if (auto ip = parseIpv4(n.Scalar())) return ip;
  if (n.Scalar().find(':') != std::string::npos) {
    ctx.warning(n, path, "IPv6 address \"" + n.Scalar() + "\" is not modelled; it is ignored");
  } else {
    ctx.error(n, path, "\"" + n.Scalar() + "\" is not an IPv4 address");
  }
  return std::nullopt;
}

std::vector<Ipv4> decodeAddressList(const YamlCtx& ctx, const YAML::Node& parent, const char* key,
                                    std::string_view path) {
  std::vector<Ipv4> out;
  YAML::Node list = ctx.seq(parent, key, path);
  if (!list) return out;
  for (size_t i = 0; i < list.size(); ++i) {
    if (auto ip = decodeAddress(ctx, list[i], indexPath(path, key, i))) out.push_back(*ip);
  }
  return out;
}

std::optional<TrafficPolicy> decodeTrafficPolicy(const YamlCtx& ctx, const YAML::Node& spec,
                                                 const char* key) {
  auto v = ctx.str(spec, key, "spec");
  if (!v) return std::nullopt;
  if (*v == "Cluster") return TrafficPolicy::Cluster;
  if (*v == "Local") return TrafficPolicy::Local;
  ctx.error(spec[key], joinPath("spec", key),
            "\"" + *v +
                "\" is not a traffic policy; expected "
                "Cluster or Local");
  return std::nullopt;
}

// One of spec.ports. Returns false after an error.
bool decodeServicePort(const YamlCtx& ctx, const YAML::Node& n, const std::string& p,
                       ServicePort& sp) {
  if (!n.IsMap()) {
    ctx.error(n, p, "expected a port (a map), got " + std::string(yamlTypeName(n)));
    return false;
  }
  ctx.checkKeys(n, p, {"name", "port", "targetPort", "protocol", "nodePort", "appProtocol"});
  const size_t errors_before = ctx.diags()->errors().size();
  sp.name = ctx.str(n, "name", p).value_or("");
  auto num = ctx.integer(n, "port", p, 1, 65535);
  if (!num && !isPresent(n["port"])) ctx.error(n, joinPath(p, "port"), "required field is missing");
  sp.port = static_cast<uint16_t>(num.value_or(0));
  bool ok = true;
  sp.protocol = parseProtocolName(ctx, n, p, &ok);
  sp.target_port = std::to_string(sp.port);
  if (auto t = ctx.str(n, "targetPort", p)) {
    const bool numeric = !t->empty() && std::all_of(t->begin(), t->end(),
                                                    [](char c) { return c >= '0' && c <= '9'; });
    if (numeric) {
      if (ctx.integer(n, "targetPort", p, 1, 65535)) sp.target_port = *t;
    } else if (validPortName(*t)) {
      sp.target_port = *t;
    } else {
      ctx.error(n["targetPort"], joinPath(p, "targetPort"),
                "\"" + *t +
                    "\" is neither a port number (1-65535) nor a port name (1-15 of "
                    "a-z, 0-9 and '-', with a letter)");
    }
  }
  if (auto np = ctx.integer(n, "nodePort", p, 1, 65535)) sp.node_port = static_cast<uint16_t>(*np);
  return ctx.diags()->errors().size() == errors_before;
}

// spec.ports: each port, then the rules between them (names, duplicates, nodePorts vs type).
void decodeServicePorts(const YamlCtx& ctx, const YAML::Node& spec, const ClusterOptions& opt,
                        Service& s) {
  YAML::Node ports = ctx.seq(spec, "ports", "spec");
  if (!ports) return;
  std::set<std::string> names;
  std::set<std::pair<uint16_t, uint8_t>> numbers;
  for (size_t i = 0; i < ports.size(); ++i) {
    const std::string p = indexPath("spec", "ports", i);
    ServicePort sp;
    if (!decodeServicePort(ctx, ports[i], p, sp)) continue;
    if (ports.size() > 1 && sp.name.empty()) {
      ctx.error(ports[i], joinPath(p, "name"),
                "required when the Service has more than one port (Kubernetes names them in "
                "EndpointSlices)");
    } else if (!names.insert(sp.name).second) {
      ctx.error(ports[i]["name"], joinPath(p, "name"), "duplicate port name \"" + sp.name + "\"");
    }
    if (!numbers.insert({sp.port, sp.protocol}).second) {
      ctx.error(ports[i]["port"], joinPath(p, "port"),
                "duplicate port " + std::to_string(sp.port) + " with the same protocol");
    }
    if (sp.node_port != 0 && s.type == ServiceType::ClusterIP) {
      ctx.error(ports[i]["nodePort"], joinPath(p, "nodePort"),
                "a ClusterIP Service has no nodePort; expected type NodePort or LoadBalancer");
    } else if (sp.node_port != 0 &&
               (sp.node_port < opt.node_port_min || sp.node_port > opt.node_port_max)) {
      ctx.error(ports[i]["nodePort"], joinPath(p, "nodePort"),
                std::to_string(sp.node_port) + " is outside the node port range " +
                    std::to_string(opt.node_port_min) + "-" + std::to_string(opt.node_port_max));
    }
    s.ports.push_back(sp);
  }
}

void decodeAffinity(const YamlCtx& ctx, const YAML::Node& spec, Service& s) {
  if (auto a = ctx.str(spec, "sessionAffinity", "spec")) {
    if (*a == "ClientIP") {
      s.affinity_client_ip = true;
    } else if (*a != "None") {
      ctx.error(spec["sessionAffinity"], "spec.sessionAffinity",
                "\"" + *a + "\" is not a session affinity; expected None or ClientIP");
    }
  }
  YAML::Node cfg = ctx.map(spec, "sessionAffinityConfig", "spec");
  if (!cfg) return;
  ctx.checkKeys(cfg, "spec.sessionAffinityConfig", {"clientIP"});
  YAML::Node cip = ctx.map(cfg, "clientIP", "spec.sessionAffinityConfig");
  ctx.checkKeys(cip, "spec.sessionAffinityConfig.clientIP", {"timeoutSeconds"});
  if (auto t = ctx.integer(cip, "timeoutSeconds", "spec.sessionAffinityConfig.clientIP", 1, 86400))
    s.affinity_timeout_s = static_cast<uint32_t>(*t);
  if (isPresent(cip) && !s.affinity_client_ip) {
    ctx.error(cip, "spec.sessionAffinityConfig.clientIP",
              "only allowed with sessionAffinity: ClientIP");
  }
}

void decodeLoadBalancerStatus(const YamlCtx& ctx, const YAML::Node& root, Service& s) {
  YAML::Node status = ctx.map(root, "status", "");
  ctx.checkKeys(status, "status", {"loadBalancer", "conditions"});
  YAML::Node lb = ctx.map(status, "loadBalancer", "status");
  ctx.checkKeys(lb, "status.loadBalancer", {"ingress"});
  YAML::Node ing = ctx.seq(lb, "ingress", "status.loadBalancer");
  if (!ing) return;
  for (size_t i = 0; i < ing.size(); ++i) {
    const std::string p = indexPath("status.loadBalancer", "ingress", i);
    ctx.checkKeys(ing[i], p, {"ip", "hostname", "ipMode", "ports"});
    if (ing[i].IsMap() && isPresent(ing[i]["ip"])) {
      if (auto ip = decodeAddress(ctx, ing[i]["ip"], joinPath(p, "ip")))
        s.load_balancer_ips.push_back(*ip);
    }
  }
  if (!s.load_balancer_ips.empty() && s.type != ServiceType::LoadBalancer) {
    ctx.warning(ing, "status.loadBalancer.ingress",
                "the Service is not of type LoadBalancer; these addresses are ignored");
    s.load_balancer_ips.clear();
  }
}

void decodeClusterIp(const YamlCtx& ctx, const YAML::Node& spec, Service& s) {
  auto ip = ctx.str(spec, "clusterIP", "spec");
  if (!ip || ip->empty()) return;
  if (*ip == "None") {
    s.headless = true;
    return;
  }
  s.cluster_ip = decodeAddress(ctx, spec["clusterIP"], "spec.clusterIP");
}

// spec.type; false for ExternalName (ignored) and after an error.
bool decodeServiceType(const YamlCtx& ctx, const YAML::Node& spec, Service& s) {
  auto t = ctx.str(spec, "type", "spec").value_or("ClusterIP");
  if (t == "ClusterIP") {
    s.type = ServiceType::ClusterIP;
  } else if (t == "NodePort") {
    s.type = ServiceType::NodePort;
  } else if (t == "LoadBalancer") {
    s.type = ServiceType::LoadBalancer;
  } else if (t == "ExternalName") {
    // A DNS CNAME: no virtual IP, no backends, nothing a policy or the datapath can act on.
    ctx.warning(spec["type"], "spec.type",
                "ExternalName Services are DNS aliases with no address or backends; ignored");
    return false;
  } else {
    ctx.error(spec["type"], "spec.type",
              "\"" + t +
                  "\" is not a Service type; expected ClusterIP, NodePort, LoadBalancer or "
                  "ExternalName");
    return false;
  }
  return true;
}

}  // namespace

void Builder::addService(const YamlCtx& ctx, const RawObject& o) {
  Service s{.namespace_ = o.ns.empty() ? "default" : o.ns, .name = o.name, .loc = o.loc};
  decodeLabelMap(ctx, o.node["metadata"]["labels"], "metadata.labels", s.labels);
  ctx.checkKeys(o.node, "", {"apiVersion", "kind", "metadata", "spec", "status"});
  YAML::Node spec = ctx.map(o.node, "spec", "");
  ctx.checkKeys(spec, "spec",
                {"selector",
                 "ports",
                 "clusterIP",
                 "clusterIPs",
                 "type",
                 "externalIPs",
                 "sessionAffinity",
                 "sessionAffinityConfig",
                 "externalTrafficPolicy",
                 "internalTrafficPolicy",
                 "loadBalancerIP",
                 "loadBalancerSourceRanges",
                 "loadBalancerClass",
                 "externalName",
                 "publishNotReadyAddresses",
                 "ipFamilies",
                 "ipFamilyPolicy",
                 "allocateLoadBalancerNodePorts",
                 "healthCheckNodePort",
                 "trafficDistribution"});
  if (!decodeServiceType(ctx, spec, s)) return;
  if (isPresent(spec["selector"])) {
    StringMap sel;
    decodeLabelMap(ctx, spec["selector"], "spec.selector", sel);
    // An empty selector selects no pods: Kubernetes treats it as a Service without selector.
    if (!sel.empty()) s.selector = std::move(sel);
  }
  decodeClusterIp(ctx, spec, s);
  decodeServicePorts(ctx, spec, cluster.options, s);
  s.external_ips = decodeAddressList(ctx, spec, "externalIPs", "spec");
  decodeAffinity(ctx, spec, s);
  if (auto tp = decodeTrafficPolicy(ctx, spec, "externalTrafficPolicy")) {
    if (s.type == ServiceType::ClusterIP && s.external_ips.empty()) {
      ctx.error(spec["externalTrafficPolicy"], "spec.externalTrafficPolicy",
                "only allowed for NodePort or LoadBalancer Services or with externalIPs");
    }
    s.external_traffic_policy = *tp;
  }
  if (auto tp = decodeTrafficPolicy(ctx, spec, "internalTrafficPolicy"))
    s.internal_traffic_policy = *tp;
  if (auto alloc = ctx.boolean(spec, "allocateLoadBalancerNodePorts", "spec")) {
    if (s.type != ServiceType::LoadBalancer) {
      ctx.error(spec["allocateLoadBalancerNodePorts"], "spec.allocateLoadBalancerNodePorts",
                "only allowed for LoadBalancer Services");
    }
    s.allocate_node_ports = *alloc;
  }
  decodeLoadBalancerStatus(ctx, o.node, s);
  for (const auto& other : cluster.services) {
    if (s.cluster_ip && other.cluster_ip == s.cluster_ip) {
      ctx.error(spec["clusterIP"], "spec.clusterIP",
                formatIpv4(*s.cluster_ip) + " is already the clusterIP of Service " + other.ref());
    }
  }
  cluster.services.push_back(std::move(s));
}

namespace {

void decodeConditions(const YamlCtx& ctx, const YAML::Node& ep, const std::string& p,
                      SliceEndpoint& out) {
  YAML::Node c = ctx.map(ep, "conditions", p);
  const std::string cp = joinPath(p, "conditions");
  ctx.checkKeys(c, cp, {"ready", "serving", "terminating"});
  out.ready = ctx.boolean(c, "ready", cp).value_or(true);
  out.serving = ctx.boolean(c, "serving", cp).value_or(true);
  out.terminating = ctx.boolean(c, "terminating", cp).value_or(false);
}

void decodeSliceEndpoint(const YamlCtx& ctx, const YAML::Node& ep, const std::string& p,
                         EndpointSlice& e) {
  if (!ep.IsMap()) {
    ctx.error(ep, p, "expected an endpoint (a map), got " + std::string(yamlTypeName(ep)));
    return;
  }
  ctx.checkKeys(ep, p,
                {"addresses", "conditions", "hostname", "nodeName", "targetRef", "zone", "hints",
                 "deprecatedTopology"});
  SliceEndpoint out{.loc = ctx.loc(ep)};
  if (!isPresent(ep["addresses"])) {
    ctx.error(ep, joinPath(p, "addresses"), "required field is missing");
    return;
  }
  out.addresses = decodeAddressList(ctx, ep, "addresses", p);
  decodeConditions(ctx, ep, p, out);
  out.node_name = ctx.str(ep, "nodeName", p).value_or("");
  YAML::Node ref = ctx.map(ep, "targetRef", p);
  const std::string rp = joinPath(p, "targetRef");
  ctx.checkKeys(ref, rp,
                {"kind", "name", "namespace", "uid", "apiVersion", "resourceVersion", "fieldPath"});
  out.target_kind = ctx.str(ref, "kind", rp).value_or("");
  out.target_name = ctx.str(ref, "name", rp).value_or("");
  out.target_namespace = ctx.str(ref, "namespace", rp).value_or(e.namespace_);
  e.addresses.insert(e.addresses.end(), out.addresses.begin(), out.addresses.end());
  e.endpoints.push_back(std::move(out));
}

void decodeSlicePorts(const YamlCtx& ctx, const YAML::Node& root, EndpointSlice& e) {
  YAML::Node ports = ctx.seq(root, "ports", "");
  if (!ports) return;
  std::set<std::string> names;
  for (size_t i = 0; i < ports.size(); ++i) {
    const std::string p = indexPath("", "ports", i);
    ctx.checkKeys(ports[i], p, {"name", "port", "protocol", "appProtocol"});
    ServicePort sp;
    sp.name = ctx.str(ports[i], "name", p).value_or("");
    if (!names.insert(sp.name).second) {
      ctx.error(ports[i]["name"], joinPath(p, "name"), "duplicate port name \"" + sp.name + "\"");
      continue;
    }
    auto num = ctx.integer(ports[i], "port", p, 1, 65535);
    if (!num) {
      if (!isPresent(ports[i]["port"]))
        ctx.error(ports[i], joinPath(p, "port"), "required field is missing");
      continue;
    }
    sp.port = static_cast<uint16_t>(*num);
    bool ok = true;
    sp.protocol = parseProtocolName(ctx, ports[i], p, &ok);
    if (ok) e.ports.push_back(sp);
  }
}

}  // namespace

void Builder::addEndpointSlice(const YamlCtx& ctx, const RawObject& o) {
  EndpointSlice e{.namespace_ = o.ns.empty() ? "default" : o.ns, .name = o.name, .loc = o.loc};
  ctx.checkKeys(o.node, "",
                {"apiVersion", "kind", "metadata", "addressType", "endpoints", "ports"});
  StringMap labels;
  decodeLabelMap(ctx, o.node["metadata"]["labels"], "metadata.labels", labels);
  e.service_name = labels["kubernetes.io/service-name"];
  if (e.service_name.empty()) {
    ctx.warning(o.node["metadata"], "metadata.labels",
                "no kubernetes.io/service-name label: the slice belongs to no Service and is "
                "ignored");
  }
  const std::string type = ctx.str(o.node, "addressType", "").value_or("IPv4");
  if (type != "IPv4") {
    if (type != "IPv6" && type != "FQDN") {
      ctx.error(o.node["addressType"], "addressType",
                "\"" + type + "\" is not an address type; expected IPv4, IPv6 or FQDN");
    } else {
      ctx.warning(o.node["addressType"], "addressType",
                  type + " slices are not modelled; the slice is ignored");
    }
    return;
  }
  YAML::Node eps = ctx.seq(o.node, "endpoints", "");
  for (size_t i = 0; eps && i < eps.size(); ++i) {
    decodeSliceEndpoint(ctx, eps[i], indexPath("", "endpoints", i), e);
  }
  decodeSlicePorts(ctx, o.node, e);
  cluster.endpoint_slices.push_back(std::move(e));
}

}  // namespace membrane::model
