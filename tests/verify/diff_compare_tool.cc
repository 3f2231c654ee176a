// SPDX-License-Identifier: Apache-2.0
// verify-diff-compare REF1 REF2 EXPECTED: `membrane diff REF1 REF2` (np-guard universe)
// must equal np-guard's expected diff semantically: the same pairs with the same ref1 and
// ref2 connection sets, external ranges compared address by address.
#include <fstream>
#include <iostream>
#include <sstream>

#include "model/connectivity.h"
#include "model/loader.h"
#include "sim/npguard.h"
#include "verify/diff.h"

namespace {

// "diff-type: T, source: S, destination: D, ref1: R1, ref2: R2[, workloads-diff-info: I]"
// -> "S => D : R1" and "S => D : R2".
bool splitDiffLine(const std::string& line, std::string& ref1, std::string& ref2) {
  const auto s = line.find(", source: ");
  const auto d = line.find(", destination: ");
  const auto r1 = line.find(", ref1: ");
  const auto r2 = line.find(", ref2: ");
  if (s == std::string::npos || d == std::string::npos || r1 == std::string::npos ||
      r2 == std::string::npos) {
    return false;
  }
  auto info = line.find(", workloads-diff-info: ");
  if (info == std::string::npos) info = line.size();
  const std::string pair =
      line.substr(s + 10, d - s - 10) + " => " + line.substr(d + 15, r1 - d - 15);
  ref1 = pair + " : " + line.substr(r1 + 8, r2 - r1 - 8) + "\n";
  ref2 = pair + " : " + line.substr(r2 + 8, info - r2 - 8) + "\n";
  return true;
}

bool toLists(const std::string& text, std::string& ref1, std::string& ref2) {
  std::stringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.starts_with("Connectivity diff")) continue;
    std::string a, b;
    if (!splitDiffLine(line, a, b)) {
      std::cerr << "cannot parse diff line: " << line << "\n";
      return false;
    }
    ref1 += a;
    ref2 += b;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace membrane;
  if (argc != 4) {
    std::cerr << "usage: verify-diff-compare REF1 REF2 EXPECTED\n";
    return 2;
  }
  auto c1 = model::loadCluster({argv[1]});
  auto c2 = model::loadCluster({argv[2]});
  if (!c1.diags.ok() || !c2.diags.ok()) return 2;
  const model::Engine e1(c1.cluster);
  const model::Engine e2(c2.cluster);
  const auto d =
      verify::diffConnectivity(c1.cluster, model::computeConnectivity(e1), c2.cluster,
                               model::computeConnectivity(e2), {.npguard_universe = true});
  std::ostringstream ours_text;
  verify::printDiffText(ours_text, d);
  std::ifstream in(argv[3]);
  if (!in) {
    std::cerr << argv[3] << ": cannot open the expected diff\n";
    return 2;
  }
  std::stringstream expected_text;
  expected_text << in.rdbuf();
  std::string ours1, ours2, exp1, exp2, err;
  if (!toLists(ours_text.str(), ours1, ours2) || !toLists(expected_text.str(), exp1, exp2))
    return 2;
  int bad = 0;
  for (auto [ours, expected, ref] :
       {std::tuple{&ours1, &exp1, "ref1"}, std::tuple{&ours2, &exp2, "ref2"}}) {
    auto o = sim::parseConnList(*ours, &err);
    auto x = sim::parseConnList(*expected, &err);
    if (!o || !x) {
      std::cerr << err << "\n";
      return 2;
    }
    for (const auto& line : sim::compareConnLists(*o, *x)) {
      std::cout << ref << ": " << line << "\n";
      ++bad;
    }
  }
  std::cout << d.size() << " diff entries, " << bad << " semantic differences from np-guard\n";
  return bad == 0 ? 0 : 1;
}
