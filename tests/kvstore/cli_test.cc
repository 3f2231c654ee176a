// SPDX-License-Identifier: Apache-2.0
// membrane apply / get / delete against a real etcd: the CLI binary as a user runs it.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kvstore/client.h"
#include "tests/support/etcd_harness.h"

namespace membrane::kvstore {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int rc = -1;
  std::string out;  // stdout and stderr
};

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    etcd_ = test::EtcdCluster::start(1, &err);
    ASSERT_NE(etcd_, nullptr) << err;
    auto c = Client::create(etcd_->clientConfig());
    ASSERT_TRUE(c.ok());
    client_ = *c;
    tmp_ = etcd_->dir() + "/inputs";
    fs::create_directories(tmp_);
  }

  CliRun membrane(const std::string& args, bool store = true) {
    std::string cmd = std::string(MEMBRANE_BIN) + " " + args;
    if (store) cmd += " --etcd-endpoints " + etcd_->endpoints()[0] + " --etcd-prefix t/";
    CliRun r;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return r;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
    const int st = ::pclose(p);
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
  }

  std::string write(const std::string& name, const std::string& text) {
    const std::string path = tmp_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  // Every stored key with its revision: "nothing written" means this does not change.
  std::vector<std::pair<std::string, int64_t>> snapshot() {
    auto r = client_->getPrefix("t/");
    EXPECT_TRUE(r.ok());
    std::vector<std::pair<std::string, int64_t>> v;
    if (r.ok()) {
      for (const auto& kv : r->kvs) v.emplace_back(kv.key, kv.mod_revision);
    }
    return v;
  }

  std::unique_ptr<test::EtcdCluster> etcd_;
  std::shared_ptr<Client> client_;
  std::string tmp_;
};

const std::string kScenario = std::string(MEMBRANE_SOURCE_DIR) + "/scenarios/three-tier";

TEST_F(Cli, ApplyGetDelete) {
  auto r = membrane("apply -f " + kScenario + "/manifests.yaml");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("NetworkPolicy/shop/frontend-http applied"), std::string::npos) << r.out;
  EXPECT_EQ(snapshot().size(), 13u);

  r = membrane("get netpol -n shop");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("NetworkPolicy/shop/default-deny-ingress"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("db-from-backend"), std::string::npos) << "other namespace listed:\n"
                                                              << r.out;

  r = membrane("get pods -A -o json");
  ASSERT_EQ(r.rc, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["items"].size(), 4u);
  EXPECT_EQ(j["items"][0]["kind"], "Pod");
  EXPECT_FALSE(j["items"][0]["metadata"]["resourceVersion"].get<std::string>().empty());

  r = membrane("get ns shop -o yaml");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("team: web"), std::string::npos) << r.out;

  // delete -f of one object removes exactly that one.
  const std::string one = write("frontend-http.yaml",
                                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                                "metadata: {name: frontend-http, namespace: shop}\n");
  r = membrane("delete -f " + one);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(snapshot().size(), 12u);
  // Like apply, delete prints the revision of its write (a writer waits for the agents).
  EXPECT_NE(r.out.find("NetworkPolicy/shop/frontend-http deleted\nrevision "), std::string::npos)
      << r.out;
  r = membrane("get netpol frontend-http -n shop");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("not found"), std::string::npos) << r.out;
  r = membrane("delete -f " + one);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find(":1:1: NetworkPolicy/shop/frontend-http: not found"), std::string::npos)
      << r.out;
}

// Empty documents (a trailing `---`, a comment-only document) are no objects, as for kubectl
// and the loader: `membrane sim` applies files with them (verify --emit-scenario writes one).
TEST_F(Cli, EmptyDocumentsAreSkipped) {
  const std::string f = write("empty-docs.yaml",
                              "# only a comment\n---\napiVersion: v1\nkind: Namespace\n"
                              "metadata: {name: e}\n---\n# trailing\n---\n");
  auto r = membrane("apply -f " + f);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("Namespace/e applied"), std::string::npos) << r.out;
  EXPECT_EQ(snapshot().size(), 1u);
}

TEST_F(Cli, ApplyReplacesAndConflictsOnAStaleResourceVersion) {
  const std::string v1 = write(
      "ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: {v: '1'}\n");
  ASSERT_EQ(membrane("apply -f " + v1).rc, 0);
  auto got = membrane("get ns a -o yaml");
  ASSERT_EQ(got.rc, 0) << got.out;
  ASSERT_NE(got.out.find("resourceVersion"), std::string::npos) << got.out;
  const std::string stale = write("stale.yaml", got.out);  // carries the current revision

  // Someone else replaces it: same kind/name, new labels.
  const std::string v2 = write(
      "ns2.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: {v: '2'}\n");
  auto r = membrane("apply -f " + v2);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(snapshot().size(), 1u);
  const auto before = snapshot();

  r = membrane("apply -f " + stale);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("conflict"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stale.yaml:1:1: Namespace/a: expected resourceVersion"), std::string::npos)
      << r.out;
  EXPECT_EQ(snapshot(), before);
  got = membrane("get ns a -o json");
  EXPECT_EQ(nlohmann::json::parse(got.out)["metadata"]["labels"]["v"], "2") << got.out;

  // The same stale file, refreshed with get, applies.
  const std::string fresh = write("fresh.yaml", membrane("get ns a -o yaml").out);
  EXPECT_EQ(membrane("apply -f " + fresh).rc, 0);
}

TEST_F(Cli, InvalidInputWritesNothing) {
  ASSERT_EQ(membrane("apply -f " + kScenario + "/manifests.yaml").rc, 0);
  const auto before = snapshot();
  // A directory with a valid object and an invalid one: the error names file:line, and the
  // valid object is not written either.
  fs::create_directories(tmp_ + "/mixed");
  write("mixed/a-good.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: fresh}\n");
  fs::copy_file(std::string(MEMBRANE_SOURCE_DIR) + "/tests/cmd/inputs/bad-policy.yaml",
                tmp_ + "/mixed/b-bad.yaml");
  auto r = membrane("apply -f " + tmp_ + "/mixed");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("b-bad.yaml:7:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("spec.ingress[0].toPorts[0].ports[0].port"), std::string::npos) << r.out;
  EXPECT_EQ(snapshot(), before);

  const std::string bad_rv = write("bad-rv.yaml",
                                   "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n"
                                   "  resourceVersion: soon\n");
  r = membrane("apply -f " + bad_rv);
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("bad-rv.yaml:5:20: Namespace/x: metadata.resourceVersion"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(snapshot(), before);
}

TEST_F(Cli, UsageAndStoreErrors) {
  auto r = membrane("apply --help", false);
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("Exit codes"), std::string::npos) << r.out;
  r = membrane("get frobs", false);
  EXPECT_EQ(r.rc, 2) << r.out;
  const std::string ns = write("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n");
  r = membrane("apply -f " + ns + " --etcd-endpoints http://127.0.0.1:1 --etcd-timeout-ms 300",
               false);
  EXPECT_EQ(r.rc, 5) << r.out;
  EXPECT_NE(r.out.find("unreachable"), std::string::npos) << r.out;
  r = membrane("apply -f " + ns + " --etcd-endpoints 127.0.0.1:2379", false);
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("expected http://HOST:PORT"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace membrane::kvstore
