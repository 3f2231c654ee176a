// SPDX-License-Identifier: Apache-2.0
// kvstore_bench: identity allocation rate with 3 concurrent allocators (each its own client
// and session, as 3 agents) against a private etcd, as a ratio to a baseline measured in the
// same run (sequential plain puts of one client); and etcd keys and bytes per endpoint.
//
//   kvstore_bench [N]   N label sets per allocator (default 300; half shared by all three)
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "kvstore/identity_allocator.h"
#include "kvstore/registry.h"
#include "tests/support/etcd_harness.h"

namespace {

using namespace membrane;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 300;
  std::string err;
  auto etcd = test::EtcdCluster::start(1, &err);
  if (!etcd) {
    std::cerr << "kvstore_bench: " << err << "\n";
    return 1;
  }
  auto client = *kvstore::Client::create(etcd->clientConfig());
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) (void)client->put("base/" + std::to_string(i), "x");
  const double put_rate = n / since(t0);

  std::vector<std::unique_ptr<kvstore::Session>> sessions;
  std::vector<std::unique_ptr<kvstore::EtcdIdentityAllocator>> allocs;
  for (int a = 0; a < 3; ++a) {
    auto c = *kvstore::Client::create(etcd->clientConfig());
    sessions.push_back(std::move(*kvstore::Session::create(c, 30)));
    allocs.push_back(std::make_unique<kvstore::EtcdIdentityAllocator>(
        *sessions.back(), kvstore::Layout("b/"),
        kvstore::EtcdAllocatorConfig{.node = "node-" + std::to_string(a)}));
  }
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  t0 = Clock::now();
  for (int a = 0; a < 3; ++a) {
    threads.emplace_back([&, a] {
      for (int i = 0; i < n; ++i) {
        // Even i: shared by all three agents; odd i: this agent's own.
        const std::string labels =
            "k8s:app=a" + std::to_string(i) + (i % 2 ? ",k8s:node=" + std::to_string(a) : "");
        if (!allocs[a]->allocate(labels).ok()) ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double secs = since(t0);
  const auto ids = client->getPrefix(kvstore::Layout("b/").identitiesById());
  const size_t distinct = ids ? ids->kvs.size() : 0;

  // Keys and bytes per endpoint: its ipcache entry plus the node's share of its identity.
  kvstore::Registry reg(*sessions[0], kvstore::Layout("b/"));
  for (int i = 0; i < 100; ++i) {
    (void)reg.publishEndpoint(
        {.ip = "10.244.0." + std::to_string(i), .identity = 256, .node = "node-0"});
  }
  auto eps = client->getPrefix("b/ipcache/");
  size_t ep_bytes = 0;
  for (const auto& kv : eps->kvs) ep_bytes += kv.key.size() + kv.value.size();

  std::cout << "baseline: sequential put, 1 client      " << put_rate << " ops/s\n"
            << "identity allocate, 3 agents x " << n << "    " << 3 * n / secs
            << " allocate calls/s (" << distinct << " identities, " << distinct / secs
            << " new identities/s, " << failed << " failed)\n"
            << "  ratio allocate calls / baseline puts:  " << (3 * n / secs) / put_rate << "\n"
            << "ipcache: 1 key per endpoint, " << ep_bytes / eps->kvs.size()
            << " bytes (key + value); identity: 2 keys per label set + 1 ref key per node\n";
  return failed ? 1 : 0;
}
