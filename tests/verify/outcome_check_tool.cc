// SPDX-License-Identifier: Apache-2.0
// verify_outcome_check RESULT.json EXPECTED.outcomes EXIT_CODE
// Checks `membrane verify -o json` invariant by invariant against an expectations file
// beside the invariants, so a run cannot pass because some other invariant failed too.
// Expectations: one line per invariant, "name outcome [text the reason must contain]";
// outcome is holds, violated, vacuous, vacuous-allowed, unknown or internal-error; '#'
// starts a comment. Every invariant of the result needs a line and every line an
// invariant; EXIT_CODE (membrane verify's) must be what the outcomes imply.
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace {

struct Expected {
  std::string outcome;
  std::string reason_part;
  int line = 0;
};

bool readExpected(const std::string& path, std::map<std::string, Expected>& out) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << path << ": cannot read\n";
    return false;
  }
  std::string text;
  bool ok = true;
  for (int n = 1; std::getline(in, text); ++n) {
    std::istringstream ls(text);
    std::string name;
    Expected e{.line = n};
    if (!(ls >> name) || name.starts_with("#")) continue;
    if (!(ls >> e.outcome)) {
      std::cerr << path << ":" << n << ": expected \"name outcome [reason text]\"\n";
      ok = false;
      continue;
    }
    std::getline(ls >> std::ws, e.reason_part);
    if (!out.emplace(name, e).second) {
      std::cerr << path << ":" << n << ": invariant " << name << " listed twice\n";
      ok = false;
    }
  }
  return ok;
}

// "holds", "violated", ... as membrane verify's JSON says, with vacuous split by allowVacuous.
std::string outcomeOf(const nlohmann::json& inv) {
  std::string r = inv.at("result").get<std::string>();
  if (r == "vacuous" && inv.value("allowVacuous", false)) r = "vacuous-allowed";
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: verify_outcome_check RESULT.json EXPECTED.outcomes EXIT_CODE\n";
    return 2;
  }
  std::map<std::string, Expected> expected;
  if (!readExpected(argv[2], expected)) return 1;
  nlohmann::json result;
  try {
    std::ifstream in(argv[1]);
    result = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    std::cerr << argv[1] << ": not membrane verify's JSON: " << e.what() << "\n";
    return 1;
  }
  int bad = 0;
  int implied_exit = 0;
  std::map<std::string, bool> seen;
  for (const auto& inv : result.at("invariants")) {
    const std::string name = inv.at("name").get<std::string>();
    const std::string got = outcomeOf(inv);
    const std::string reason = inv.value("reason", "");
    if (got == "internal-error") implied_exit = 4;
    if (implied_exit != 4 && (got == "violated" || got == "vacuous")) implied_exit = 1;
    if (implied_exit == 0 && got == "unknown") implied_exit = 3;
    auto it = expected.find(name);
    if (it == expected.end()) {
      std::cerr << "UNEXPECTED invariant " << name << " (" << got << "): not in " << argv[2]
                << "\n";
      ++bad;
      continue;
    }
    seen[name] = true;
    const Expected& e = it->second;
    if (got != e.outcome || reason.find(e.reason_part) == std::string::npos) {
      std::cerr << argv[2] << ":" << e.line << ": " << name << ": expected " << e.outcome
                << (e.reason_part.empty() ? "" : " (\"" + e.reason_part + "\")") << ", got " << got
                << " (\"" << reason << "\")\n";
      ++bad;
    } else {
      std::cout << "ok " << name << " " << got << "\n";
    }
  }
  for (const auto& [name, e] : expected) {
    if (!seen.count(name)) {
      std::cerr << argv[2] << ":" << e.line << ": UNSEEN invariant " << name << "\n";
      ++bad;
    }
  }
  const int exit_code = std::atoi(argv[3]);
  if (exit_code != implied_exit) {
    std::cerr << "membrane verify exited " << exit_code << ", the outcomes imply " << implied_exit
              << "\n";
    ++bad;
  }
  return bad == 0 ? 0 : 1;
}
