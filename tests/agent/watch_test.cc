// SPDX-License-Identifier: Apache-2.0
// The directory source's trigger sees changes anywhere in the watched tree, also in a
// subdirectory created after the agent started (inotify is not recursive).
#include "agent/watch.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace membrane::agent {
namespace {

class DirWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char t[] = "/tmp/membrane-watch-test-XXXXXX";
    ASSERT_NE(mkdtemp(t), nullptr);
    dir_ = t;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Waits (bounded) until the watcher reports a change.
  static bool changed(DirWatcher& w) {
    for (int i = 0; i < 50; ++i) {
      if (w.wait(100)) return true;
    }
    return false;
  }
  std::string dir_;
};

TEST_F(DirWatcherTest, SeesAFileInTheDirectory) {
  auto w = DirWatcher::open(dir_);
  ASSERT_TRUE(w.ok()) << w.error().message();
  std::ofstream(dir_ + "/a.yaml") << "kind: Namespace\n";
  EXPECT_TRUE(changed(*w));
  EXPECT_FALSE(w->wait(200));  // nothing else happened
}

TEST_F(DirWatcherTest, SeesAFileInASubdirectoryCreatedLater) {
  auto w = DirWatcher::open(dir_);
  ASSERT_TRUE(w.ok()) << w.error().message();
  std::filesystem::create_directory(dir_ + "/team-a");
  ASSERT_TRUE(changed(*w));  // the new directory itself
  std::ofstream(dir_ + "/team-a/policy.yaml") << "kind: NetworkPolicy\n";
  EXPECT_TRUE(changed(*w)) << "a file in a subdirectory made after start went unnoticed";
}

}  // namespace
}  // namespace membrane::agent
