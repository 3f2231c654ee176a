// SPDX-License-Identifier: Apache-2.0
#include "sim/cni_runtime.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <vector>

namespace membrane::sim {
namespace {

using dataplane::Error;
using dataplane::Result;

// Writes `in` to the child's stdin and reads its stdout until EOF, without deadlocking on
// either pipe.
void exchange(int to_child, int from_child, const std::string& in, std::string& out) {
  size_t written = 0;
  if (in.empty()) {
    close(to_child);
    to_child = -1;
  }
  char buf[4096];
  while (from_child >= 0) {
    pollfd fds[2] = {{.fd = from_child, .events = POLLIN, .revents = 0},
                     {.fd = to_child, .events = POLLOUT, .revents = 0}};
    if (poll(fds, to_child >= 0 ? 2 : 1, 30000) <= 0) break;
    if (to_child >= 0 && fds[1].revents != 0) {
      const ssize_t n = write(to_child, in.data() + written, in.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n <= 0 || written == in.size()) {
        close(to_child);
        to_child = -1;
      }
    }
    if (fds[0].revents != 0) {
      const ssize_t n = read(from_child, buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  if (to_child >= 0) close(to_child);
}

}  // namespace

std::string simNetconf(const std::string& agent_socket) {
  return nlohmann::json{{"cniVersion", "1.1.0"},
                        {"name", "membrane-sim"},
                        {"type", "membrane-cni"},
                        {"agentSocket", agent_socket}}
      .dump();
}

Result<nlohmann::json> runCni(const CniCall& call) {
  const std::vector<std::string> env_s = {
      "CNI_COMMAND=" + call.command,
      "CNI_CONTAINERID=" + call.container_id,
      "CNI_NETNS=/run/netns/" + call.netns,
      "CNI_IFNAME=" + call.ifname,
      "CNI_ARGS=" + call.args,
      "CNI_PATH=" + std::filesystem::path(call.binary).parent_path().string(),
      "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  std::vector<char*> env;
  for (const auto& e : env_s) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  char* argv[] = {const_cast<char*>(call.binary.c_str()), nullptr};
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return dataplane::errnoError(errno, "pipe");
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return dataplane::errnoError(errno, "pipe");
  }
  const int log_fd = call.log.empty()
                         ? -1
                         : open(call.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    if (log_fd >= 0) dup2(log_fd, STDERR_FILENO);
    execve(argv[0], argv, env.data());
    _exit(127);
  }
  const int err = errno;
  close(in[0]);
  close(out[1]);
  if (log_fd >= 0) close(log_fd);
  if (pid < 0) {
    close(in[1]);
    close(out[0]);
    return dataplane::errnoError(err, "fork " + call.binary);
  }
  std::string stdout_text;
  exchange(in[1], out[0], call.netconf, stdout_text);
  close(out[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  const std::string what = "membrane-cni " + call.command + " " + call.container_id;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    return Error{.code = EIO,
                 .context = what + " failed (exit " +
                            std::to_string(WIFEXITED(st) ? WEXITSTATUS(st) : 128) +
                            "): " + (stdout_text.empty() ? "no output" : stdout_text)};
  }
  if (stdout_text.empty()) return nlohmann::json::object();
  try {
    return nlohmann::json::parse(stdout_text);
  } catch (const nlohmann::json::exception& e) {
    return Error{.code = EIO, .context = what + ": result is not JSON: " + stdout_text};
  }
}

}  // namespace membrane::sim
