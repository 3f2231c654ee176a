// SPDX-License-Identifier: Apache-2.0
// A small facade over Z3 (the only code that includes z3++.h is smt.cc). In the spirit of
// Alive2 and p4tools: a three-way result (sat / unsat / unknown with the solver's reason),
// a timeout on every check, scoped push/pop, and variables with readable, deterministic
// names ("src.k8s:app", "dst.addr") so counterexamples read well.
//
// Expressions are handles into the context that built them; they are cheap to copy and
// valid as long as the context lives. Literal true/false fold at construction, so the
// encoder can build formulas naively and the solver only sees the symbolic remainder.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace membrane::verify::smt {

class Expr {
 public:
  Expr() = default;
  bool isTrue() const { return id_ == kTrueId; }
  bool isFalse() const { return id_ == kFalseId; }
  uint32_t id() const { return id_; }

 private:
  friend class Context;
  static constexpr uint32_t kFalseId = 0;
  static constexpr uint32_t kTrueId = 1;
  explicit Expr(uint32_t id) : id_(id) {}
  uint32_t id_ = kFalseId;
};

enum class Status { Sat, Unsat, Unknown };
std::string_view statusName(Status s);

struct CheckResult {
  Status status = Status::Unknown;
  std::string reason;  // for Unknown: the solver's reason ("timeout", "canceled", ...)
  double millis = 0;   // wall time of the check
};

struct SolverOptions {
  unsigned timeout_ms = 30000;  // every check() is bounded by this
  unsigned random_seed = 0;     // fixed so runs are reproducible
};

class Context {
 public:
  explicit Context(SolverOptions options = {});
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Constants and variables. Variables with the same name are the same variable.
  Expr boolVal(bool b) const { return Expr(b ? Expr::kTrueId : Expr::kFalseId); }
  Expr intVal(int64_t v);
  Expr bvVal(uint64_t v, unsigned bits);
  Expr boolVar(const std::string& name);
  Expr intVar(const std::string& name);
  Expr bvVar(const std::string& name, unsigned bits);

  // Boolean structure (folds literal true/false).
  Expr mkNot(Expr a);
  Expr mkAnd(const std::vector<Expr>& xs);
  Expr mkOr(const std::vector<Expr>& xs);
  Expr mkAnd(Expr a, Expr b) { return mkAnd(std::vector<Expr>{a, b}); }
  Expr mkOr(Expr a, Expr b) { return mkOr(std::vector<Expr>{a, b}); }
  Expr implies(Expr a, Expr b) { return mkOr(mkNot(a), b); }
  Expr ite(Expr c, Expr a, Expr b);

  // Comparisons: ints (signed arithmetic), bit-vectors (unsigned).
  Expr eq(Expr a, Expr b);
  Expr le(Expr a, Expr b);  // int a <= b
  Expr lt(Expr a, Expr b) { return mkNot(le(b, a)); }
  Expr inRange(Expr x, int64_t lo, int64_t hi);  // int lo <= x <= hi
  Expr bvUle(Expr a, Expr b);
  Expr extract(Expr bv, unsigned hi, unsigned lo);  // bits hi..lo

  // Assertions and checks on the context's solver.
  void add(Expr e);
  CheckResult check();
  // Checks under extra assumptions without asserting them.
  CheckResult checkAssuming(const std::vector<Expr>& assumptions);
  void push();
  void pop();
  size_t assertionCount() const;

  // Model access after a Sat check (completion: unconstrained variables get a value).
  int64_t intValue(Expr e) const;
  uint64_t bvValue(Expr e) const;
  bool boolValue(Expr e) const;

  // The asserted formula in SMT-LIB 2 (for --dump-smt and debugging).
  std::string smtlib() const;

 private:
  struct Impl;
  static Expr handle(uint32_t id) { return Expr(id); }
  std::unique_ptr<Impl> impl_;
};

// Scoped push/pop: assertions added while the scope lives are retracted at its end.
class Scope {
 public:
  explicit Scope(Context& ctx) : ctx_(ctx) { ctx_.push(); }
  ~Scope() { ctx_.pop(); }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Context& ctx_;
};

}  // namespace membrane::verify::smt
