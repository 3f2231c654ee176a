// SPDX-License-Identifier: Apache-2.0
// The only translation unit that includes z3++.h.
#include "verify/smt/smt.h"

#include <z3++.h>

#include <chrono>
#include <map>
#include <sstream>

namespace membrane::verify::smt {

std::string_view statusName(Status s) {
  switch (s) {
    case Status::Sat:
      return "sat";
    case Status::Unsat:
      return "unsat";
    case Status::Unknown:
      return "unknown";
  }
  return "?";
}

struct Context::Impl {
  explicit Impl(const SolverOptions& o) : solver(ctx), options(o) {
    z3::params p(ctx);
    p.set("timeout", o.timeout_ms);
    p.set("random_seed", o.random_seed);
    solver.set(p);
    exprs.push_back(ctx.bool_val(false));
    exprs.push_back(ctx.bool_val(true));
  }

  uint32_t put(const z3::expr& e) {
    if (e.is_true()) return 1;
    if (e.is_false()) return 0;
    exprs.push_back(e);
    return static_cast<uint32_t>(exprs.size() - 1);
  }
  const z3::expr& get(Expr e) const { return exprs.at(e.id()); }

  CheckResult run(const z3::expr_vector* assumptions) {
    CheckResult r;
    const auto start = std::chrono::steady_clock::now();
    try {
      const z3::check_result c = assumptions ? solver.check(*assumptions) : solver.check();
      model.reset();
      if (c == z3::sat) {
        r.status = Status::Sat;
        model.emplace(solver.get_model());
      } else if (c == z3::unsat) {
        r.status = Status::Unsat;
      } else {
        r.status = Status::Unknown;
        r.reason = solver.reason_unknown();
      }
    } catch (const z3::exception& e) {
      r.status = Status::Unknown;
      r.reason = std::string("solver error: ") + e.msg();
    }
    r.millis =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

  z3::context ctx;
  z3::solver solver;
  SolverOptions options;
  std::vector<z3::expr> exprs;  // index = Expr id; 0 = false, 1 = true
  std::optional<z3::model> model;
  std::map<std::string, uint32_t> vars;  // name -> id, so a name always means one variable
};

Context::Context(SolverOptions options) : impl_(std::make_unique<Impl>(options)) {}
Context::~Context() = default;

Expr Context::intVal(int64_t v) {
  return handle(impl_->put(impl_->ctx.int_val(static_cast<int64_t>(v))));
}
Expr Context::bvVal(uint64_t v, unsigned bits) {
  return handle(impl_->put(impl_->ctx.bv_val(static_cast<uint64_t>(v), bits)));
}

Expr Context::boolVar(const std::string& name) {
  auto [it, fresh] = impl_->vars.try_emplace(name, 0);
  if (fresh) it->second = impl_->put(impl_->ctx.bool_const(name.c_str()));
  return handle(it->second);
}
Expr Context::intVar(const std::string& name) {
  auto [it, fresh] = impl_->vars.try_emplace(name, 0);
  if (fresh) it->second = impl_->put(impl_->ctx.int_const(name.c_str()));
  return handle(it->second);
}
Expr Context::bvVar(const std::string& name, unsigned bits) {
  auto [it, fresh] = impl_->vars.try_emplace(name, 0);
  if (fresh) it->second = impl_->put(impl_->ctx.bv_const(name.c_str(), bits));
  return handle(it->second);
}

Expr Context::mkNot(Expr a) {
  if (a.isTrue()) return boolVal(false);
  if (a.isFalse()) return boolVal(true);
  return handle(impl_->put(!impl_->get(a)));
}

Expr Context::mkAnd(const std::vector<Expr>& xs) {
  z3::expr_vector v(impl_->ctx);
  for (Expr x : xs) {
    if (x.isFalse()) return boolVal(false);
    if (!x.isTrue()) v.push_back(impl_->get(x));
  }
  if (v.empty()) return boolVal(true);
  if (v.size() == 1) return handle(impl_->put(v[0]));
  return handle(impl_->put(z3::mk_and(v)));
}

Expr Context::mkOr(const std::vector<Expr>& xs) {
  z3::expr_vector v(impl_->ctx);
  for (Expr x : xs) {
    if (x.isTrue()) return boolVal(true);
    if (!x.isFalse()) v.push_back(impl_->get(x));
  }
  if (v.empty()) return boolVal(false);
  if (v.size() == 1) return handle(impl_->put(v[0]));
  return handle(impl_->put(z3::mk_or(v)));
}

Expr Context::ite(Expr c, Expr a, Expr b) {
  if (c.isTrue()) return a;
  if (c.isFalse()) return b;
  if (a.id() == b.id()) return a;
  return handle(impl_->put(z3::ite(impl_->get(c), impl_->get(a), impl_->get(b))));
}

Expr Context::eq(Expr a, Expr b) {
  if (a.id() == b.id()) return boolVal(true);
  const z3::expr& x = impl_->get(a);
  const z3::expr& y = impl_->get(b);
  if (x.is_numeral() && y.is_numeral()) return boolVal(z3::eq(x, y));
  return handle(impl_->put(x == y));
}

Expr Context::le(Expr a, Expr b) {
  const z3::expr& x = impl_->get(a);
  const z3::expr& y = impl_->get(b);
  int64_t u = 0;
  int64_t v = 0;
  if (x.is_numeral_i64(u) && y.is_numeral_i64(v)) return boolVal(u <= v);
  return handle(impl_->put(x <= y));
}

Expr Context::inRange(Expr x, int64_t lo, int64_t hi) {
  if (lo > hi) return boolVal(false);
  const z3::expr& e = impl_->get(x);
  int64_t v = 0;
  if (e.is_numeral_i64(v)) return boolVal(v >= lo && v <= hi);
  if (lo == hi) return eq(x, intVal(lo));
  return handle(impl_->put(e >= impl_->ctx.int_val(lo) && e <= impl_->ctx.int_val(hi)));
}

Expr Context::bvUle(Expr a, Expr b) {
  return handle(impl_->put(z3::ule(impl_->get(a), impl_->get(b))));
}

Expr Context::extract(Expr bv, unsigned hi, unsigned lo) {
  const z3::expr& e = impl_->get(bv);
  uint64_t v = 0;
  if (e.is_numeral_u64(v)) {
    const unsigned width = hi - lo + 1;
    const uint64_t mask = width >= 64 ? ~uint64_t{0} : ((uint64_t{1} << width) - 1);
    return bvVal((v >> lo) & mask, width);
  }
  return handle(impl_->put(e.extract(hi, lo)));
}

void Context::add(Expr e) {
  if (e.isTrue()) return;
  impl_->solver.add(impl_->get(e));
}

CheckResult Context::check() { return impl_->run(nullptr); }

CheckResult Context::checkAssuming(const std::vector<Expr>& assumptions) {
  z3::expr_vector v(impl_->ctx);
  for (Expr a : assumptions) v.push_back(impl_->get(a));
  return impl_->run(&v);
}

void Context::push() { impl_->solver.push(); }
void Context::pop() {
  impl_->solver.pop();
  impl_->model.reset();
}
size_t Context::assertionCount() const { return impl_->solver.assertions().size(); }

int64_t Context::intValue(Expr e) const {
  if (!impl_->model) return 0;
  z3::expr v = impl_->model->eval(impl_->get(e), true);
  int64_t out = 0;
  return v.is_numeral_i64(out) ? out : 0;
}

uint64_t Context::bvValue(Expr e) const {
  if (!impl_->model) return 0;
  z3::expr v = impl_->model->eval(impl_->get(e), true);
  uint64_t out = 0;
  return v.is_numeral_u64(out) ? out : 0;
}

bool Context::boolValue(Expr e) const {
  if (e.isTrue()) return true;
  if (e.isFalse() || !impl_->model) return false;
  return impl_->model->eval(impl_->get(e), true).is_true();
}

std::string Context::smtlib() const { return impl_->solver.to_smt2(); }

}  // namespace membrane::verify::smt
