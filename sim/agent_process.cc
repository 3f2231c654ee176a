// SPDX-License-Identifier: Apache-2.0
#include "sim/agent_process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/client.h"
#include "agent/desired.h"
#include "model/ip.h"
#include "sim/run_registry.h"

namespace membrane::sim {
namespace {

using dataplane::Error;
using dataplane::Result;
using dataplane::Status;

std::string logTail(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  const std::string all = s.str();
  return all.size() > 600 ? all.substr(all.size() - 600) : all;
}

}  // namespace

// fork + setns into the node's namespace + exec; everything the child needs is prepared
// before fork (the parent may have threads: only async-signal-safe calls in the child).
Result<pid_t> spawnInNetns(const std::string& netns, const std::vector<std::string>& args,
                           const std::string& log) {
  const int ns_fd = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
  if (ns_fd < 0) return dataplane::errnoError(errno, "open netns " + netns);
  const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    close(ns_fd);
    return dataplane::errnoError(errno, "open " + log);
  }
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    if (setns(ns_fd, CLONE_NEWNET) != 0) _exit(126);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  const int err = errno;
  close(ns_fd);
  close(log_fd);
  if (pid < 0) return dataplane::errnoError(err, "fork " + args[0]);
  return pid;
}

// Waits for `pid` at most `ms`; true when it exited (reaped).
bool reapWithin(pid_t pid, int ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (true) {
    const pid_t r = waitpid(pid, nullptr, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Result<std::string> findProductBinary(const std::string& name, const std::string& flag,
                                      const char* env) {
  std::string path = flag;
  std::string from = "--" + name.substr(name.find('-') + 1) + "-bin";
  if (path.empty() && env != nullptr && std::getenv(env) != nullptr) {
    path = std::getenv(env);
    from = env;
  }
  if (path.empty()) {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    path = (self.parent_path() / name).string();
    from = "next to " + self.string();
  }
  if (access(path.c_str(), X_OK) != 0) {
    return Error{.code = ENOENT,
                 .context = name + " not found or not executable at " + path + " (from " + from +
                            "; set it with --" + name.substr(name.find('-') + 1) + "-bin or " +
                            (env ? env : "") + ")"};
  }
  return path;
}

std::vector<std::string> AgentProcess::args(bool uninstall) const {
  std::vector<std::string> a = {spec_.binary};
  if (uninstall) a.push_back("--uninstall");
  const std::vector<std::pair<std::string, std::string>> kv = {
      {"--node-name", spec_.node_name},
      {"--node-ip", model::formatIpv4(spec_.node_ip)},
      {"--pod-cidr", spec_.pod_cidr},
      {"--routing", spec_.routing},
      {"--cluster-name", spec_.cluster_name},
      {"--cluster-id", std::to_string(spec_.cluster_id)},
      {"--allow-requested-outside-pod-cidr", spec_.allow_outside_pod_cidr ? "true" : "false"},
      {"--state-dir", spec_.run_dir + "/state"},
      {"--bpffs-dir", spec_.run_dir + "/bpf/membrane"},
      {"--socket", socket()},
      // Small maps: a run has few pods and many nodes share this machine's memory.
      {"--max-endpoints", "256"},
      {"--ct-entries", "16384"},
      {"--ipcache-entries", "4096"},
      {"--policy-entries", "1024"}};
  for (const auto& [k, v] : kv) {
    a.push_back(k);
    a.push_back(v);
  }
  const std::vector<std::string> source =
      spec_.etcd_endpoint.empty()
          ? std::vector<std::string>{"--manifests", manifestDir()}
          : std::vector<std::string>{"--desired-state", "etcd", "--etcd-endpoints",
                                     spec_.etcd_endpoint};
  a.insert(a.end(), source.begin(), source.end());
  return a;
}

Result<std::unique_ptr<AgentProcess>> AgentProcess::start(const AgentSpec& spec, int timeout_ms) {
  std::unique_ptr<AgentProcess> p(new AgentProcess(spec));
  std::error_code ec;
  for (const char* d : {"/bpf", "/state", "/manifests"}) {
    std::filesystem::create_directories(spec.run_dir + d, ec);
    if (ec)
      return Error{.code = EIO, .context = "create " + spec.run_dir + d + ": " + ec.message()};
  }
  const std::string bpf = spec.run_dir + "/bpf";
  if (mount("bpf", bpf.c_str(), "bpf", 0, nullptr) != 0) {
    const Error e = dataplane::errnoError(errno, "mount bpffs at " + bpf);
    (void)p->stop();
    return e;
  }
  p->mounted_ = true;
  registerMount(bpf);
  auto pid = spawnInNetns(spec.netns, p->args(false), spec.run_dir + "/agent.log");
  if (!pid) {
    (void)p->stop();
    return pid.error();
  }
  p->pid_ = *pid;
  registerProcess(p->pid_);
  if (auto s = p->waitHealthy(timeout_ms); !s) {
    (void)p->stop();
    return s.error();
  }
  return p;
}

Status AgentProcess::waitHealthy(int timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      forgetProcess(pid_);
      pid_ = -1;
      return Error{.code = ECHILD,
                   .context = "membrane-agent of " + spec_.node_name +
                              " exited during start: " + logTail(spec_.run_dir + "/agent.log")};
    }
    auto r = agent::apiRequest(socket(), "GET", "/healthz");
    if (r && r->status == 200) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Error{.code = ETIMEDOUT,
               .context = "membrane-agent of " + spec_.node_name + " not healthy after " +
                          std::to_string(timeout_ms) +
                          " ms: " + logTail(spec_.run_dir + "/agent.log")};
}

Result<std::string> AgentProcess::writeManifests(const std::map<std::string, std::string>& files) {
  namespace fs = std::filesystem;
  const std::string dir = manifestDir();
  for (const auto& [name, text] : files) {
    if (name.find('/') != std::string::npos || name.starts_with(".")) {
      return Error{.code = EINVAL,
                   .context = "manifest name \"" + name + "\": expected a plain file name"};
    }
    const std::string tmp = dir + "/." + name + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << text;
      if (!out.flush()) return Error{.code = EIO, .context = "write " + tmp};
    }
    if (std::rename(tmp.c_str(), (dir + "/" + name).c_str()) != 0) {
      return dataplane::errnoError(errno, "rename " + tmp);
    }
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!files.count(e.path().filename().string())) fs::remove(e.path(), ec);
  }
  return agent::manifestDigest(agent::readManifests(dir), dir);
}

Status AgentProcess::waitDesired(const std::function<bool(const nlohmann::json&)>& done,
                                 const std::string& what, int timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last_error;
  while (std::chrono::steady_clock::now() < end) {
    auto r = agent::apiRequest(socket(), "GET", "/status");
    if (r && r->status == 200) {
      if (done(r->body["desiredState"])) return {};
      last_error = r->body.value("lastError", "");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Error{.code = ETIMEDOUT,
               .context = "membrane-agent of " + spec_.node_name + " did not apply " + what +
                          " within " + std::to_string(timeout_ms) +
                          " ms; last error: " + (last_error.empty() ? "none" : last_error)};
}

Status AgentProcess::waitApplied(const std::string& digest, int timeout_ms) {
  return waitDesired([&](const nlohmann::json& ds) { return ds.value("applied", "") == digest; },
                     "manifests " + digest, timeout_ms);
}

Status AgentProcess::waitRevision(int64_t revision, int timeout_ms) {
  return waitDesired(
      [&](const nlohmann::json& ds) { return ds.value("revision", int64_t{0}) >= revision; },
      "store revision " + std::to_string(revision), timeout_ms);
}

Result<AgentFlowStream*> AgentProcess::flows() {
  if (flows_) return flows_.get();
  auto r = AgentFlowStream::open(observerSocket());
  if (!r) return r.error();
  flows_ = std::move(*r);
  return flows_.get();
}

Status AgentProcess::stop() {
  Status result;
  flows_.reset();  // cancels the stream before the agent goes
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    if (!reapWithin(pid_, 5000)) {
      kill(pid_, SIGKILL);
      reapWithin(pid_, 5000);
    }
    forgetProcess(pid_);
    pid_ = -1;
    // SIGTERM leaves the datapath running by design: --uninstall removes the node's state.
    auto u = spawnInNetns(spec_.netns, args(true), spec_.run_dir + "/agent.log");
    if (!u) {
      result = u.error();
    } else {
      int st = 0;
      if (waitpid(*u, &st, 0) != *u || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        result = Error{.code = EIO,
                       .context = "membrane-agent --uninstall of " + spec_.node_name +
                                  " failed: " + logTail(spec_.run_dir + "/agent.log")};
      }
    }
  }
  if (mounted_) {
    umount2((spec_.run_dir + "/bpf").c_str(), MNT_DETACH);
    forgetMount(spec_.run_dir + "/bpf");
    mounted_ = false;
  }
  std::error_code ec;
  std::filesystem::remove_all(spec_.run_dir, ec);
  // The run's directory goes with its last agent (remove() only deletes an empty one).
  std::filesystem::remove(std::filesystem::path(spec_.run_dir).parent_path(), ec);
  return result;
}

AgentProcess::~AgentProcess() { (void)stop(); }

}  // namespace membrane::sim
