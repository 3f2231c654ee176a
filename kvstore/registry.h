// SPDX-License-Identifier: Apache-2.0
// What a node publishes about itself under its session's lease (docs/kvstore.md): its node
// record and its endpoints' IP -> identity. When the node stops renewing its lease, both
// disappear for every other node after the TTL; a restarted agent that takes its lease back
// (Session::create with the old lease id) keeps them without a gap.
#pragma once

#include <string>
#include <vector>

#include "kvstore/layout.h"
#include "kvstore/session.h"
#include "model/identity_numbers.h"

namespace membrane::kvstore {

struct NodeRecord {
  std::string name;
  std::string ip;               // the node's address (tunnel endpoint unless set below)
  std::string pod_cidr;         // "10.244.1.0/24"
  std::string tunnel_endpoint;  // empty: same as ip
  std::string observer;         // the agent's Observer (gRPC host:port); empty: not served
  bool operator==(const NodeRecord&) const = default;
};

struct EndpointRecord {
  std::string ip;
  model::IdentityId identity = 0;
  std::string node;
  bool operator==(const EndpointRecord&) const = default;
};

class Registry {
 public:
  Registry(Session& session, Layout layout) : session_(session), layout_(std::move(layout)) {}
  // Both bind the key to the session's lease; publishing the same record again is a no-op
  // for readers apart from the revision.
  Result<int64_t> publishNode(const NodeRecord& n);
  Result<int64_t> publishEndpoint(const EndpointRecord& e);
  Result<int64_t> withdrawEndpoint(const std::string& ip);

 private:
  Session& session_;
  Layout layout_;
};

// Readers (any client): every node and every endpoint currently published.
Result<std::vector<NodeRecord>> listNodes(Client& c, const Layout& l);
Result<std::vector<EndpointRecord>> listEndpoints(Client& c, const Layout& l);
// The JSON stored under nodes/<name> and ipcache/<ip>; nullopt when malformed.
std::string encodeNode(const NodeRecord& n);
std::optional<NodeRecord> decodeNode(const std::string& json);
std::string encodeEndpoint(const EndpointRecord& e);
std::optional<EndpointRecord> decodeEndpoint(const std::string& json);

}  // namespace membrane::kvstore
