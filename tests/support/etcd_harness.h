// SPDX-License-Identifier: Apache-2.0
// Real etcd processes for tests: a private data directory under a temp dir, client and peer
// ports on 127.0.0.1 picked free, health awaited by polling the Status RPC (no fixed sleep),
// every process killed by its PID and the temp dir removed in the destructor, also when the
// test fails. Agent and sim tests reuse it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kvstore/client.h"

namespace membrane::test {

// One member of a (possibly one-member) cluster.
struct EtcdMember {
  std::string name;
  int client_port = 0;
  int peer_port = 0;
  std::string data_dir;
  pid_t pid = -1;
  bool tls = false;  // clients speak https with a client certificate
  std::string clientUrl() const {
    return (tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(client_port);
  }
  std::string peerUrl() const { return "http://127.0.0.1:" + std::to_string(peer_port); }
};

class EtcdCluster {
 public:
  // Starts `members` etcd processes forming one cluster and waits until every member
  // answers. Returns nullptr with `error` set when etcd is missing or does not come up.
  // With `tls`, a throwaway CA (openssl) signs a server and a client certificate for
  // 127.0.0.1 and etcd requires client certificates; clientConfig() carries the files.
  static std::unique_ptr<EtcdCluster> start(int members, std::string* error, bool tls = false);
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  std::vector<std::string> endpoints() const;
  kvstore::ClientConfig clientConfig() const;
  const EtcdMember& member(size_t i) const { return members_[i]; }
  size_t size() const { return members_.size(); }

  // SIGKILL member `i` and reap it (its data dir stays, so restart() brings it back).
  void kill(size_t i);
  // Restarts a killed member with its data and ports; false when it does not answer.
  bool restart(size_t i, std::string* error);
  // Waits until member `i` answers Status; false after `timeout`.
  bool waitHealthy(size_t i, std::chrono::milliseconds timeout) const;
  const std::string& dir() const { return dir_; }

 private:
  EtcdCluster() = default;
  bool spawn(size_t i, bool fresh, std::string* error);
  bool makeCertificates(std::string* error);
  std::string initialCluster() const;

  std::string dir_;
  std::vector<EtcdMember> members_;
  kvstore::TlsConfig client_tls_;
};

// The path of the etcd binary (Debian: /usr/bin/etcd), or empty when not installed.
std::string etcdBinary();

}  // namespace membrane::test
