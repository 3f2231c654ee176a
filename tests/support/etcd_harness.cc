// SPDX-License-Identifier: Apache-2.0
#include "tests/support/etcd_harness.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace membrane::test {

namespace fs = std::filesystem;

std::string etcdBinary() {
  for (const char* p : {"/usr/bin/etcd", "/usr/local/bin/etcd"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

namespace {

// A port the kernel just handed out on 127.0.0.1. Another process could take it before
// etcd binds it; a start that fails is retried with new ports.
int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

void reap(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  int st = 0;
  ::waitpid(pid, &st, 0);
  pid = -1;
}

}  // namespace

std::string EtcdCluster::initialCluster() const {
  std::string s;
  for (const auto& m : members_) s += (s.empty() ? "" : ",") + m.name + "=" + m.peerUrl();
  return s;
}

bool EtcdCluster::spawn(size_t i, bool fresh, std::string* error) {
  EtcdMember& m = members_[i];
  std::vector<std::string> args = {
      etcdBinary(),
      "--name=" + m.name,
      "--data-dir=" + m.data_dir,
      "--listen-client-urls=" + m.clientUrl(),
      "--advertise-client-urls=" + m.clientUrl(),
      "--listen-peer-urls=" + m.peerUrl(),
      "--initial-advertise-peer-urls=" + m.peerUrl(),
      "--initial-cluster=" + initialCluster(),
      "--initial-cluster-token=membrane-test-" + std::to_string(::getpid()),
      std::string("--initial-cluster-state=") + (fresh ? "new" : "existing"),
      // No metrics or pprof listener outside the two ports above.
      "--listen-metrics-urls=",
      "--logger=zap",
      "--log-outputs=" + dir_ + "/" + m.name + ".log",
  };
  if (m.tls) {
    for (std::string f :
         {"--cert-file=" + dir_ + "/server.pem", "--key-file=" + dir_ + "/server.key",
          "--trusted-ca-file=" + dir_ + "/ca.pem", std::string("--client-cert-auth")}) {
      args.push_back(f);
    }
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    *error = "fork failed";
    return false;
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    // A test killed before its destructor runs (timeout) must not leave etcd behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    int log =
        ::open((dir_ + "/" + m.name + ".stderr").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(log, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  m.pid = pid;
  return true;
}

bool EtcdCluster::waitHealthy(size_t i, std::chrono::milliseconds timeout) const {
  kvstore::ClientConfig cfg{.endpoints = {members_[i].clientUrl()},
                            .tls = client_tls_,
                            .request_timeout = std::chrono::milliseconds(500)};
  auto client = kvstore::Client::create(cfg);
  if (!client) return false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    if (members_[i].pid > 0 && ::waitpid(members_[i].pid, &st, WNOHANG) == members_[i].pid) {
      return false;  // etcd exited (port taken, bad flag): no point in waiting
    }
    // Status answers once the member has joined; a Range needs a leader, so ask both.
    if ((*client)->status() && (*client)->get("health")) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// openssl, run on files of our own temp dir only.
bool EtcdCluster::makeCertificates(std::string* error) {
  const std::string d = dir_;
  const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  std::ofstream(d + "/server.ext")
      << "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n";
  std::ofstream(d + "/client.ext") << "extendedKeyUsage=clientAuth\n";
  const std::vector<std::string> cmds = {
      "openssl req -x509" + key + " -keyout " + d + "/ca.key -out " + d +
          "/ca.pem -days 1 -subj /CN=membrane-test-ca",
      "openssl req" + key + " -keyout " + d + "/server.key -out " + d +
          "/server.csr -subj /CN=127.0.0.1",
      "openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.pem -CAkey " + d +
          "/ca.key -CAcreateserial -out " + d + "/server.pem -days 1 -extfile " + d + "/server.ext",
      "openssl req" + key + " -keyout " + d + "/client.key -out " + d +
          "/client.csr -subj /CN=membrane-test-client",
      "openssl x509 -req -in " + d + "/client.csr -CA " + d + "/ca.pem -CAkey " + d +
          "/ca.key -CAcreateserial -out " + d + "/client.pem -days 1 -extfile " + d + "/client.ext",
  };
  for (const auto& c : cmds) {
    if (std::system((c + " >>" + d + "/openssl.log 2>&1").c_str()) != 0) {
      *error = "openssl failed: " + c + " (log " + d + "/openssl.log)";
      return false;
    }
  }
  client_tls_ = {
      .ca_file = d + "/ca.pem", .cert_file = d + "/client.pem", .key_file = d + "/client.key"};
  return true;
}

std::unique_ptr<EtcdCluster> EtcdCluster::start(int members, std::string* error, bool tls) {
  if (etcdBinary().empty()) {
    *error = "etcd is not installed (Debian package etcd-server)";
    return nullptr;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<EtcdCluster> c(new EtcdCluster());
    char tmpl[] = "/tmp/membrane-etcd-XXXXXX";
    if (!::mkdtemp(tmpl)) {
      *error = "mkdtemp failed";
      return nullptr;
    }
    c->dir_ = tmpl;
    if (tls && !c->makeCertificates(error)) return nullptr;
    for (int i = 0; i < members; ++i) {
      c->members_.push_back({.name = "m" + std::to_string(i),
                             .client_port = freePort(),
                             .peer_port = freePort(),
                             .data_dir = c->dir_ + "/m" + std::to_string(i) + ".etcd",
                             .tls = tls});
    }
    bool ok = true;
    for (size_t i = 0; i < c->members_.size() && ok; ++i) ok = c->spawn(i, true, error);
    for (size_t i = 0; i < c->members_.size() && ok; ++i) {
      ok = c->waitHealthy(i, std::chrono::seconds(30));
      if (!ok)
        *error = "etcd member " + c->members_[i].name + " did not become healthy (logs in " +
                 c->dir_ + ")";
    }
    if (ok) return c;
  }
  return nullptr;
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> v;
  for (const auto& m : members_) v.push_back(m.clientUrl());
  return v;
}

kvstore::ClientConfig EtcdCluster::clientConfig() const {
  return {.endpoints = endpoints(),
          .tls = client_tls_,
          .request_timeout = std::chrono::milliseconds(2000)};
}

void EtcdCluster::kill(size_t i) { reap(members_[i].pid); }

bool EtcdCluster::restart(size_t i, std::string* error) {
  reap(members_[i].pid);
  if (!spawn(i, false, error)) return false;
  if (!waitHealthy(i, std::chrono::seconds(30))) {
    *error = "etcd member " + members_[i].name + " did not come back";
    return false;
  }
  return true;
}

EtcdCluster::~EtcdCluster() {
  for (auto& m : members_) reap(m.pid);
  // Keep the logs of a failed run only when asked to (they are small, the data dir is not).
  if (std::getenv("MEMBRANE_KEEP_ETCD") == nullptr) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

}  // namespace membrane::test
