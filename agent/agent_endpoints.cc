// SPDX-License-Identifier: Apache-2.0
// The agent's endpoint operations (the CNI plugin's ADD, DEL, CHECK, GC): each one leaves
// the node as it found it when a step fails.
#include <functional>

#include "agent/agent.h"
#include "dataplane/datapath.h"
#include "dataplane/policy_writer.h"
#include "model/ip.h"

namespace membrane::agent {
namespace {

Error invalid(const std::string& what) { return Error{.code = EINVAL, .context = what}; }

bool validName(const std::string& s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (c == '/' || c == '\0' || c == ' ' || c == '\n') return false;
  }
  return true;
}

Status validate(const CreateRequest& r) {
  if (!validName(r.container_id, 256))
    return invalid("containerId: expected a non-empty id without '/' or spaces");
  if (!validName(r.ifname, 15))
    return invalid("ifname: expected an interface name of 1-15 characters");
  if (r.netns.empty() || r.netns.front() != '/') return invalid("netns: expected an absolute path");
  if (access(r.netns.c_str(), R_OK) != 0) return invalid("netns: " + r.netns + " does not exist");
  if (!r.pod_name.empty() && !validName(r.pod_name, 253))
    return invalid("podName: expected a name");
  return {};
}

// Runs the undo steps in reverse order (rollback of a failed creation).
void rollback(std::vector<std::function<void()>>& undo) {
  for (auto it = undo.rbegin(); it != undo.rend(); ++it) (*it)();
  undo.clear();
}

}  // namespace

Result<CreateResult> Agent::existing(const CreateRequest& req, const EndpointRecord& r) {
  const bool same = r.netns == req.netns && (req.ip == 0 || req.ip == r.ip) &&
                    r.pod_namespace == req.pod_namespace && r.pod_name == req.pod_name;
  if (!same) {
    return Error{.code = EEXIST,
                 .context = r.key() + " exists with other parameters (netns " + r.netns + ", ip " +
                            model::formatIpv4(r.ip) + ", pod " + r.pod_namespace + "/" +
                            r.pod_name + ")"};
  }
  return CreateResult{.endpoint = r, .created = false};
}

// A requested address, else the Pod object's status.podIP when it is in the pool, else 0.
uint32_t Agent::addressFor(const CreateRequest& req) {
  if (req.ip != 0) return req.ip;
  if (!model_ || req.pod_name.empty()) return 0;
  const std::string ref =
      (req.pod_namespace.empty() ? std::string("default") : req.pod_namespace) + "/" + req.pod_name;
  auto declared = model_->declared_ips.find(ref);
  if (declared == model_->declared_ips.end()) return 0;
  const uint32_t ip = declared->second;
  const uint32_t mask = ~0u << (32 - config_.pod_cidr_len);
  if ((ip & mask) != config_.pod_cidr || ipam_->leases().count(ip)) return 0;
  return ip;
}

// veth, pod side, node route and neighbour, programs. Each step registers its undo.
Status Agent::wireEndpoint(EndpointRecord& r, std::vector<std::function<void()>>& undo) {
  const PodInterface pod{.netns = r.netns,
                         .ifname = r.ifname,
                         .ip = r.ip,
                         .mtu = r.mtu,
                         .mac = podMacFor(r.ip),
                         .gateway_mac = hostMacFor(r.ip)};
  if (auto s = net_->createVeth(r.host_ifname, hostMacFor(r.ip), pod); !s) return s;
  // Deleting the host side removes the pair, its routes and neighbour entries.
  undo.push_back([this, name = r.host_ifname] { (void)net_->deleteLink(name); });
  auto idx = net_->linkIndex(r.host_ifname);
  if (!idx) return Error{.code = ENODEV, .context = "no " + r.host_ifname + " after creating it"};
  r.host_ifindex = *idx;
  if (auto s = net_->configurePod(pod); !s) return s;
  if (auto s = net_->replaceRoute(r.ip, 32, 0, *idx); !s) return s;
  if (auto s = net_->replaceNeighbour(*idx, r.ip, podMacFor(r.ip)); !s) return s;
  return net_->attachEndpoint(*idx);
}

Result<CreateResult> Agent::createEndpoint(const CreateRequest& req) {
  if (auto v = validate(req); !v) return v.error();
  std::lock_guard lock(mu_);
  if (!ready_)
    return Error{.code = EAGAIN, .context = "the agent has not finished its first reconcile"};
  const std::string key = req.container_id + "/" + req.ifname;
  if (const auto* r = store_->find(key)) return existing(req, *r);
  std::vector<std::function<void()>> undo;
  const uint32_t want = addressFor(req);
  auto ip = ipam_->allocate(key, want);
  // A Pod object's status.podIP is a preference (it may be unusable or taken); an address
  // the request asked for is not.
  if (!ip && req.ip == 0 && want != 0) ip = ipam_->allocate(key, 0);
  if (!ip) return ip.error();
  undo.push_back([this, key] { (void)ipam_->release(key); });
  EndpointRecord r{.container_id = req.container_id,
                   .ifname = req.ifname,
                   .netns = req.netns,
                   .pod_namespace = req.pod_namespace,
                   .pod_name = req.pod_name,
                   .labels = req.labels,
                   .ip = *ip,
                   .host_ifname = hostIfnameFor(*ip),
                   .mtu = config_.mtu};
  if (auto s = wireEndpoint(r, undo); !s) {
    rollback(undo);
    return s.error();
  }
  store_->put(r);
  undo.push_back([this, key] { store_->erase(key); });
  Status s = reconcileLocked(false);
  if (s) s = store_->save();
  if (!s) {
    rollback(undo);
    (void)reconcileLocked(false);  // takes the endpoint's entries out of the maps again
    (void)store_->save();
    // Invalid labels of the request are the client's fault (400); broken manifests or a
    // kernel failure are the node's (500).
    const bool request_fault = s.error().context.find(kEndpointsSource) != std::string::npos;
    const int code = request_fault ? EINVAL : (s.error().code == EINVAL ? EIO : s.error().code);
    return Error{.code = code,
                 .context = (request_fault ? "labels: " : "") + std::string("endpoint ") + key +
                            " rolled back: " + s.error().message()};
  }
  return CreateResult{.endpoint = *store_->find(key), .created = true};
}

Status Agent::removeLocked(const std::string& key) {
  const EndpointRecord* r = store_->find(key);
  if (r == nullptr) return Error{.code = ENOENT, .context = "no endpoint " + key};
  const std::string host = r->host_ifname;
  store_->erase(key);
  // Maps first (the address leaves the ipcache and endpoints map), then the veth, then the
  // address: it is free only once nothing refers to it.
  if (auto s = reconcileLocked(false); !s && s.error().code != EINVAL) return s;
  if (auto s = store_->save(); !s) return s;
  if (auto s = net_->deleteLink(host); !s) return s;
  return ipam_->release(key);
}

Status Agent::deleteEndpoint(const std::string& container_id, const std::string& ifname) {
  std::lock_guard lock(mu_);
  return removeLocked(container_id + "/" + ifname);
}

Result<EndpointRecord> Agent::endpoint(const std::string& container_id, const std::string& ifname) {
  std::lock_guard lock(mu_);
  const auto* r = store_->find(container_id + "/" + ifname);
  if (r == nullptr)
    return Error{.code = ENOENT, .context = "no endpoint " + container_id + "/" + ifname};
  return *r;
}

std::vector<EndpointRecord> Agent::endpoints() {
  std::lock_guard lock(mu_);
  std::vector<EndpointRecord> out;
  for (const auto& [k, r] : store_->all()) out.push_back(r);
  return out;
}

Status Agent::checkEndpoint(const std::string& container_id, const std::string& ifname) {
  std::lock_guard lock(mu_);
  const auto* r = store_->find(container_id + "/" + ifname);
  if (r == nullptr)
    return Error{.code = ENOENT, .context = "no endpoint " + container_id + "/" + ifname};
  auto bad = [](const std::string& what) { return Error{.code = EPROTO, .context = what}; };
  auto idx = net_->linkIndex(r->host_ifname);
  if (!idx || *idx != r->host_ifindex)
    return bad("host veth " + r->host_ifname + " is missing or was re-created");
  const PodInterface pod{.netns = r->netns, .ifname = r->ifname, .ip = r->ip};
  if (auto s = net_->checkPod(pod); !s) return bad(s.error().message());
  if (auto s = net_->checkAttached(*idx); !s) return bad(s.error().message());
  dataplane::EndpointWriter reader(node_->datapath().endpoints());
  auto eps = reader.readBack();
  if (!eps) return eps.error();
  auto e = eps->find(r->ip);
  if (e == eps->end() || e->second.endpoint_id != r->id || e->second.identity != r->identity ||
      e->second.ifindex != static_cast<uint32_t>(r->host_ifindex)) {
    return bad("the endpoints map does not hold " + model::formatIpv4(r->ip) + " as recorded");
  }
  return {};
}

Result<nlohmann::json> Agent::endpointPolicy(const std::string& container_id,
                                             const std::string& ifname) {
  std::lock_guard lock(mu_);
  const auto* r = store_->find(container_id + "/" + ifname);
  if (r == nullptr)
    return Error{.code = ENOENT, .context = "no endpoint " + container_id + "/" + ifname};
  nlohmann::json out{{"identity", r->identity}, {"entries", nlohmann::json::array()}};
  if (r->id == 0) return out;
  auto inner = node_->datapath().policyStore().installed(r->id);
  if (!inner) return inner.error();
  if (!*inner) return out;
  auto entries = dataplane::readPolicyMap(**inner);
  if (!entries) return entries.error();
  for (const auto& [k, v] : *entries) {
    out["entries"].push_back(
        {{"direction", k.direction == model::Direction::Ingress ? "ingress" : "egress"},
         {"identity", k.identity},
         {"protocol", k.protocol},
         {"port", k.port},
         {"prefixLength", k.prefix_len},
         {"verdict", v.verdict == model::EntryVerdict::Deny
                         ? "deny"
                         : (v.verdict == model::EntryVerdict::Redirect ? "redirect" : "allow")},
         {"proxyPort", v.proxy_port}});
  }
  return out;
}

Result<EndpointRecord> Agent::configureEndpoint(const std::string& container_id,
                                                const std::string& ifname, bool policy_audit) {
  std::lock_guard lock(mu_);
  const std::string key = container_id + "/" + ifname;
  const auto* r = store_->find(key);
  if (r == nullptr) return Error{.code = ENOENT, .context = "no endpoint " + key};
  if (r->policy_audit == policy_audit) return *r;
  EndpointRecord changed = *r;
  changed.policy_audit = policy_audit;
  store_->put(changed);
  // Persisted first: a restart keeps what the API confirmed.
  if (auto s = store_->save(); !s) return s.error();
  if (auto s = reconcileLocked(false); !s) return s.error();
  return *store_->find(key);
}

Result<std::vector<std::string>> Agent::gc(const std::set<std::string>& keep) {
  std::lock_guard lock(mu_);
  std::vector<std::string> drop;
  for (const auto& [key, r] : store_->all()) {
    if (!keep.count(key)) drop.push_back(key);
  }
  for (const auto& key : drop) {
    if (auto s = removeLocked(key); !s) return s.error();
  }
  return drop;
}

}  // namespace membrane::agent
