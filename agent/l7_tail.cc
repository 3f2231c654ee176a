// SPDX-License-Identifier: Apache-2.0
#include "agent/l7_tail.h"

#include <sys/stat.h>

#include <chrono>
#include <fstream>

#include "agent/l7_flows.h"

namespace membrane::agent {

namespace {

// The size of `path`, or -1 when it does not exist.
int64_t sizeOf(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

}  // namespace

AccessLogTail::AccessLogTail(std::string path, std::string node, FlowRing& ring, int poll_ms)
    : path_(std::move(path)), node_(std::move(node)), ring_(ring), poll_ms_(poll_ms) {}

std::unique_ptr<AccessLogTail> AccessLogTail::start(const std::string& path,
                                                    const std::string& node, FlowRing& ring,
                                                    int poll_ms) {
  std::unique_ptr<AccessLogTail> t(new AccessLogTail(path, node, ring, poll_ms));
  t->thread_ = std::thread([p = t.get()] { p->run(); });
  return t;
}

AccessLogTail::~AccessLogTail() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void AccessLogTail::run() {
  const int64_t at_start = sizeOf(path_);
  uint64_t offset = at_start > 0 ? static_cast<uint64_t>(at_start) : 0;
  std::string partial;
  while (!stop_) {
    readNew(offset, partial);
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms_));
  }
}

void AccessLogTail::readNew(uint64_t& offset, std::string& partial) {
  const int64_t size = sizeOf(path_);
  if (size < 0) return;
  if (static_cast<uint64_t>(size) < offset) {  // rotated or truncated: from the start
    offset = 0;
    partial.clear();
  }
  if (static_cast<uint64_t>(size) == offset) return;
  std::ifstream in(path_, std::ios::binary);
  if (!in) return;
  in.seekg(static_cast<std::streamoff>(offset));
  std::string chunk(static_cast<size_t>(size) - offset, '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  chunk.resize(static_cast<size_t>(in.gcount()));
  offset += chunk.size();
  partial += chunk;
  size_t begin = 0;
  for (size_t nl; (nl = partial.find('\n', begin)) != std::string::npos; begin = nl + 1) {
    const std::string line = partial.substr(begin, nl - begin);
    if (line.empty()) continue;
    std::string err;
    auto flow = l7FlowFromAccessRecord(line, node_, &err);
    if (!flow) {
      ++skipped_;
      continue;
    }
    FlowRecord r;
    r.kind = FlowRecord::Kind::L7;
    r.time_ns = flow->time().seconds() * 1000000000LL + flow->time().nanos();
    r.context = ring_.currentContext();
    r.l7 = std::make_shared<const flow::Flow>(std::move(*flow));
    ring_.append(std::span<FlowRecord>(&r, 1));
    ++appended_;
  }
  partial.erase(0, begin);
}

}  // namespace membrane::agent
