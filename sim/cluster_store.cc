// SPDX-License-Identifier: Apache-2.0
#include "sim/cluster_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "model/ip.h"
#include "model/manifest_set.h"
#include "sim/agent_process.h"
#include "sim/run_registry.h"

namespace membrane::sim {
namespace {

using dataplane::Error;
using dataplane::Result;
using dataplane::Status;
namespace fs = std::filesystem;

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string tail(const std::string& all) {
  return all.size() > 600 ? all.substr(all.size() - 600) : all;
}

// A document that names `doc` and nothing else: what `membrane delete -f` needs.
std::string namingDoc(const YAML::Node& doc) {
  YAML::Node d;
  if (doc["apiVersion"]) d["apiVersion"] = doc["apiVersion"];
  d["kind"] = doc["kind"];
  d["metadata"]["name"] = doc["metadata"]["name"];
  if (doc["metadata"]["namespace"]) d["metadata"]["namespace"] = doc["metadata"]["namespace"];
  YAML::Emitter out;
  out << d;
  return out.c_str();
}

Status writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) return Error{.code = EIO, .context = "write " + path};
  return {};
}

}  // namespace

Result<std::string> findEtcdBinary() {
  if (const char* env = std::getenv("MEMBRANE_ETCD_BIN"); env != nullptr && *env != '\0') {
    if (access(env, X_OK) == 0) return std::string(env);
    return Error{.code = ENOENT,
                 .context = std::string("etcd not found or not executable at ") + env +
                            " (from MEMBRANE_ETCD_BIN)"};
  }
  for (const char* p : {"/usr/bin/etcd", "/usr/local/bin/etcd"}) {
    if (access(p, X_OK) == 0) return std::string(p);
  }
  return Error{.code = ENOENT,
               .context =
                   "etcd not found at /usr/bin/etcd or /usr/local/bin/etcd (Debian "
                   "package etcd-server; or set MEMBRANE_ETCD_BIN, or run with "
                   "--desired-state dir)"};
}

std::optional<int64_t> printedRevision(const std::string& output) {
  std::optional<int64_t> rev;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("revision ")) continue;
    try {
      size_t used = 0;
      const int64_t v = std::stoll(line.substr(9), &used);
      if (used == line.size() - 9 && v > 0) rev = v;
    } catch (const std::exception&) {
    }
  }
  return rev;
}

std::string ClusterStore::endpoint() const {
  return "http://" + model::formatIpv4(spec_.ip) + ":2379";
}

Result<std::unique_ptr<ClusterStore>> ClusterStore::start(const ClusterStoreSpec& spec,
                                                          int timeout_ms) {
  std::unique_ptr<ClusterStore> s(new ClusterStore(spec));
  std::error_code ec;
  fs::create_directories(spec.dir + "/data", ec);
  if (ec) return Error{.code = EIO, .context = "create " + spec.dir + "/data: " + ec.message()};
  const std::string url = s->endpoint();
  // The peer listener stays on the namespace's loopback: a one-member cluster has no peer.
  const std::vector<std::string> args = {
      spec.etcd_binary,
      "--name=membrane-sim",
      "--data-dir=" + spec.dir + "/data",
      "--listen-client-urls=" + url,
      "--advertise-client-urls=" + url,
      "--listen-peer-urls=http://127.0.0.1:2380",
      "--initial-advertise-peer-urls=http://127.0.0.1:2380",
      "--initial-cluster=membrane-sim=http://127.0.0.1:2380",
      "--initial-cluster-token=" + fs::path(spec.dir).parent_path().filename().string(),
      "--initial-cluster-state=new",
      "--listen-metrics-urls=",
      // One member on one machine: short ticks make it elect itself in tens of ms instead
      // of the default ~1 s, which every scenario of a run would wait for.
      "--heartbeat-interval=10",
      "--election-timeout=100",
  };
  auto pid = spawnInNetns(spec.netns, args, spec.dir + "/etcd.log");
  if (!pid) {
    (void)s->stop();
    return pid.error();
  }
  s->pid_ = *pid;
  registerProcess(s->pid_);
  if (auto w = s->waitAnswering(timeout_ms); !w) {
    (void)s->stop();
    return w.error();
  }
  return s;
}

Result<std::string> ClusterStore::cli(std::vector<std::string> args) const {
  args.insert(args.begin(), spec_.membrane_binary);
  args.insert(args.end(), {"--etcd-endpoints", endpoint(), "--etcd-timeout-ms", "10000"});
  const std::string out = spec_.dir + "/cli.out";
  std::error_code ec;
  fs::remove(out, ec);
  auto pid = spawnInNetns(spec_.netns, args, out);
  if (!pid) return pid.error();
  int st = 0;
  if (waitpid(*pid, &st, 0) != *pid) return dataplane::errnoError(errno, "waitpid membrane");
  const std::string text = readFile(out);
  {  // every call's output stays in cli.log for a failed run's post-mortem
    std::ofstream log(spec_.dir + "/cli.log", std::ios::app);
    log << "$ membrane " << args[1] << " ...\n" << text;
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return text;
  std::string cmd;
  for (size_t i = 1; i < args.size(); ++i) cmd += (i > 1 ? " " : "") + args[i];
  return Error{.code = EIO,
               .context = "membrane " + cmd + " exited " +
                          (WIFEXITED(st) ? std::to_string(WEXITSTATUS(st))
                                         : "by signal " + std::to_string(WTERMSIG(st))) +
                          ": " + tail(text)};
}

Status ClusterStore::waitAnswering(int timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last;
  while (std::chrono::steady_clock::now() < end) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      forgetProcess(pid_);
      pid_ = -1;
      return Error{
          .code = ECHILD,
          .context = "etcd exited during start: " + tail(readFile(spec_.dir + "/etcd.log"))};
    }
    // A Range needs a leader: once it answers, apply will too.
    auto r = cli({"get", "nodes", "-A"});
    if (r) return {};
    last = r.error().message();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Error{.code = ETIMEDOUT,
               .context = "etcd at " + endpoint() + " not answering after " +
                          std::to_string(timeout_ms) + " ms: " + last +
                          "; etcd log: " + tail(readFile(spec_.dir + "/etcd.log"))};
}

Result<int64_t> ClusterStore::sync(const std::map<std::string, std::string>& files, size_t step) {
  const std::string dir = spec_.dir + "/step-" + std::to_string(step);
  std::error_code ec;
  fs::create_directories(dir + "/apply", ec);
  if (ec) return Error{.code = EIO, .context = "create " + dir + ": " + ec.message()};
  std::map<std::string, std::string> now;
  for (const auto& [name, text] : files) {
    if (auto w = writeFile(dir + "/apply/" + name, text); !w) return w.error();
    try {
      for (const auto& doc : YAML::LoadAll(text)) {
        const std::string id = model::objectIdentity(doc);
        if (!id.empty()) now[id] = namingDoc(doc);
      }
    } catch (const YAML::Exception& e) {
      return Error{.code = EINVAL, .context = "step manifests " + name + ": " + e.what()};
    }
  }
  // Apply first: a step apply refuses changes nothing (not even the deletes); then the
  // objects the step no longer has go, as `kubectl apply` followed by `kubectl delete`.
  std::optional<int64_t> rev;
  if (!files.empty()) {
    auto r = cli({"apply", "-f", dir + "/apply", "--cluster-name", spec_.cluster_name,
                  "--cluster-id", std::to_string(spec_.cluster_id)});
    if (!r) return r.error();
    rev = printedRevision(*r);
  }
  std::string gone;
  for (const auto& [id, doc] : stored_) {
    if (!now.count(id)) gone += "---\n" + doc + "\n";
  }
  if (!gone.empty()) {
    if (auto w = writeFile(dir + "/delete.yaml", gone); !w) return w.error();
    auto r = cli({"delete", "-f", dir + "/delete.yaml"});
    if (!r) return r.error();
    rev = printedRevision(*r);
  }
  stored_ = std::move(now);
  if (!rev) return Error{.code = EIO, .context = "membrane apply/delete printed no revision"};
  return *rev;
}

Status ClusterStore::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    if (!reapWithin(pid_, 5000)) {
      kill(pid_, SIGKILL);
      reapWithin(pid_, 5000);
    }
    forgetProcess(pid_);
    pid_ = -1;
  }
  std::error_code ec;
  fs::remove_all(spec_.dir, ec);
  if (ec) return Error{.code = EIO, .context = "remove " + spec_.dir + ": " + ec.message()};
  return {};
}

ClusterStore::~ClusterStore() { (void)stop(); }

}  // namespace membrane::sim
