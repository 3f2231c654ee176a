// SPDX-License-Identifier: Apache-2.0
#include "proxy/redirect.h"

#include <gtest/gtest.h>

namespace membrane::proxy {
namespace {

std::string join(const Command& c) {
  std::string s;
  for (const auto& a : c) s += (s.empty() ? "" : " ") + a;
  return s;
}

TEST(Redirect, InstallMatchesThisProxysPortMark) {
  std::vector<std::string> ran;
  auto err = installRedirect(15001, [&](const Command& c, std::string*) {
    ran.push_back(join(c));
    return 0;
  });
  EXPECT_EQ(err, "");
  // Uninstall of leftovers first (5 commands), then the 6 install commands.
  ASSERT_EQ(ran.size(), 11u);
  EXPECT_EQ(ran[5], "ip rule add fwmark 0x200/0xf00 lookup 2004 pref 9000");
  EXPECT_EQ(ran[6], "ip route add local 0.0.0.0/0 dev lo table 2004");
  // 15001 << 16 | 0x200 = 0x3a990200
  EXPECT_EQ(ran[10],
            "iptables -w -t mangle -A MEMBRANE_PROXY -p tcp -m mark --mark 0x3a990200/0xffff0f00 "
            "-j TPROXY --on-port 15001 --on-ip 0.0.0.0 --tproxy-mark 0x200/0xf00");
}

TEST(Redirect, AFailedStepRemovesWhatWasAdded) {
  std::vector<std::string> ran;
  int installs = 0;
  auto err = installRedirect(15001, [&](const Command& c, std::string* e) {
    ran.push_back(join(c));
    const bool is_install = c[2] == "add" || c[4] == "-N" || c[4] == "-I" || c[4] == "-A";
    if (is_install && ++installs == 3) {
      *e = "no chain";
      return 1;
    }
    return 0;
  });
  EXPECT_EQ(err, "iptables -w -t mangle -N MEMBRANE_PROXY: no chain");
  ASSERT_GE(ran.size(), 5u);
  // The last five commands are the full uninstall.
  const auto un = redirectUninstallCommands();
  for (size_t i = 0; i < un.size(); ++i) EXPECT_EQ(ran[ran.size() - un.size() + i], join(un[i]));
}

}  // namespace
}  // namespace membrane::proxy
