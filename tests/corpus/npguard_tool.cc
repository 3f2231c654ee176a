// SPDX-License-Identifier: Apache-2.0
// npguard-compare CASE_DIR: compares `membrane connectivity` with np-guard's expected list.
#include <fstream>
#include <iostream>
#include <sstream>

#include "model/connectivity.h"
#include "model/loader.h"
#include "sim/npguard.h"

int main(int argc, char** argv) {
  using namespace membrane;
  if (argc != 3) {
    std::cerr << "usage: npguard-compare MANIFEST_DIR EXPECTED_TXT\n";
    return 2;
  }
  auto loaded = model::loadCluster({argv[1]});
  for (const auto& e : loaded.diags.errors()) std::cerr << e.str() << "\n";
  if (!loaded.diags.ok()) return 2;
  model::Engine engine(loaded.cluster);
  auto ours = sim::toConnLines(loaded.cluster, model::computeConnectivity(engine));
  std::ifstream in(argv[2]);
  if (!in) {
    std::cerr << argv[2] << ": cannot open the expected list\n";
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string err;
  auto expected = sim::parseConnList(ss.str(), &err);
  if (!expected) {
    std::cerr << argv[2] << ": " << err << "\n";
    return 2;
  }
  auto diffs = sim::compareConnLists(ours, *expected);
  for (const auto& d : diffs) std::cout << d << "\n";
  return diffs.empty() ? 0 : 1;
}
