// SPDX-License-Identifier: Apache-2.0
#include "cni/del_queue.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace membrane::cni {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Error ioError(const std::string& what) {
  return Error{Code::IoFailure, "cannot queue the DEL", what + ": " + std::strerror(errno)};
}

// write(2) until done, then fsync: a queued DEL must survive a node crash.
bool writeAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return ::fsync(fd) == 0;
}

}  // namespace

std::string nowRfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string DelQueue::fileFor(const std::string& containerId, const std::string& ifname) const {
  // ':' appears in neither a container id nor an interface name (the spec forbids it).
  return dir_ + "/" + containerId + ":" + ifname + ".json";
}

std::optional<Error> DelQueue::push(const QueuedDel& d) const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) {
    errno = ec.value();
    return ioError("create " + dir_);
  }
  ::chmod(dir_.c_str(), 0700);
  json j = {{"version", 1},         {"containerId", d.containerId},
            {"ifname", d.ifname},   {"netns", d.netns},
            {"network", d.network}, {"queuedAt", d.queuedAt.empty() ? nowRfc3339() : d.queuedAt}};
  const std::string final = fileFor(d.containerId, d.ifname);
  const std::string tmp = dir_ + "/.tmp-" + std::to_string(::getpid()) + "-" + d.containerId;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ioError("create " + tmp);
  bool ok = writeAll(fd, j.dump() + "\n");
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), final.c_str()) != 0) {
    Error e = ioError("write " + final);
    ::unlink(tmp.c_str());
    return e;
  }
  return std::nullopt;
}

std::vector<QueuedDel> DelQueue::list(std::vector<std::string>* problems) const {
  std::vector<QueuedDel> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string path = entry.path().string();
    const std::string name = entry.path().filename().string();
    if (name.starts_with(".") || !name.ends_with(".json")) continue;  // temp files
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    try {
      json j = json::parse(ss.str());
      QueuedDel d;
      d.containerId = j.at("containerId").get<std::string>();
      d.ifname = j.at("ifname").get<std::string>();
      d.netns = j.value("netns", "");
      d.network = j.value("network", "");
      d.queuedAt = j.value("queuedAt", "");
      d.file = path;
      if (d.containerId.empty() || d.ifname.empty()) throw std::runtime_error("empty key");
      out.push_back(std::move(d));
    } catch (const std::exception& e) {
      if (problems) problems->push_back(path + ": not a queued DEL (" + e.what() + ")");
    }
  }
  std::sort(out.begin(), out.end(), [](const QueuedDel& a, const QueuedDel& b) {
    return std::tie(a.queuedAt, a.file) < std::tie(b.queuedAt, b.file);
  });
  return out;
}

void DelQueue::remove(const QueuedDel& d) const {
  ::unlink(d.file.empty() ? fileFor(d.containerId, d.ifname).c_str() : d.file.c_str());
}

void DelQueue::reject(const QueuedDel& d) const {
  const std::string from = d.file.empty() ? fileFor(d.containerId, d.ifname) : d.file;
  ::rename(from.c_str(), (from + ".rejected").c_str());
}

}  // namespace membrane::cni
