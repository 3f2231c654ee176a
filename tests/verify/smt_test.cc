// SPDX-License-Identifier: Apache-2.0
#include "verify/smt/smt.h"

#include <gtest/gtest.h>

namespace membrane::verify::smt {
namespace {

TEST(Smt, SatGivesAModel) {
  Context ctx;
  Expr x = ctx.intVar("src.port");
  ctx.add(ctx.inRange(x, 10, 20));
  ctx.add(ctx.mkNot(ctx.le(x, ctx.intVal(15))));
  CheckResult r = ctx.check();
  ASSERT_EQ(r.status, Status::Sat);
  EXPECT_GT(ctx.intValue(x), 15);
  EXPECT_LE(ctx.intValue(x), 20);
}

TEST(Smt, UnsatAndScopes) {
  Context ctx;
  Expr x = ctx.intVar("x");
  ctx.add(ctx.inRange(x, 0, 5));
  {
    Scope s(ctx);
    ctx.add(ctx.eq(x, ctx.intVal(7)));
    EXPECT_EQ(ctx.check().status, Status::Unsat);
  }
  EXPECT_EQ(ctx.check().status, Status::Sat);  // the scope's assertion is gone
  EXPECT_EQ(ctx.assertionCount(), 1u);
}

TEST(Smt, FoldsLiterals) {
  Context ctx;
  Expr x = ctx.boolVar("x");
  EXPECT_TRUE(ctx.mkOr(x, ctx.boolVal(true)).isTrue());
  EXPECT_TRUE(ctx.mkAnd(x, ctx.boolVal(false)).isFalse());
  EXPECT_TRUE(ctx.eq(ctx.intVal(3), ctx.intVal(3)).isTrue());
  EXPECT_TRUE(ctx.eq(ctx.intVal(3), ctx.intVal(4)).isFalse());
  EXPECT_TRUE(ctx.inRange(ctx.intVal(3), 1, 2).isFalse());
  EXPECT_TRUE(ctx.eq(ctx.extract(ctx.bvVal(0x0A000001, 32), 31, 24), ctx.bvVal(10, 8)).isTrue());
  EXPECT_FALSE(ctx.mkAnd(x, ctx.boolVal(true)).isTrue());
}

TEST(Smt, BitVectorPrefixes) {
  Context ctx;
  Expr a = ctx.bvVar("dst.addr", 32);
  ctx.add(ctx.eq(ctx.extract(a, 31, 24), ctx.bvVal(10, 8)));
  ctx.add(ctx.mkNot(ctx.bvUle(a, ctx.bvVal(0x0A000010, 32))));
  ASSERT_EQ(ctx.check().status, Status::Sat);
  EXPECT_EQ(ctx.bvValue(a) >> 24, 10u);
  EXPECT_GT(ctx.bvValue(a), 0x0A000010u);
}

TEST(Smt, ReadableNamesInSmtLib) {
  Context ctx;
  ctx.add(ctx.eq(ctx.intVar("src.k8s:app"), ctx.intVal(2)));
  EXPECT_NE(ctx.smtlib().find("src.k8s:app"), std::string::npos);
}

TEST(Smt, CheckAssumingDoesNotAssert) {
  Context ctx;
  Expr b = ctx.boolVar("b");
  EXPECT_EQ(ctx.checkAssuming({b, ctx.mkNot(b)}).status, Status::Unsat);
  EXPECT_EQ(ctx.check().status, Status::Sat);
}

TEST(Smt, TimeoutGivesUnknownWithReason) {
  // The pigeonhole principle (12 pigeons, 11 holes): exponential for resolution, so the
  // 1 ms budget runs out long before the solver can answer unsat.
  Context ctx({.timeout_ms = 1});
  constexpr int kHoles = 11;
  auto p = [&](int i, int j) {
    return ctx.boolVar("p" + std::to_string(i) + "_" + std::to_string(j));
  };
  for (int i = 0; i <= kHoles; ++i) {
    std::vector<Expr> some;
    for (int j = 0; j < kHoles; ++j) some.push_back(p(i, j));
    ctx.add(ctx.mkOr(some));
  }
  for (int j = 0; j < kHoles; ++j) {
    for (int i = 0; i <= kHoles; ++i) {
      for (int k = i + 1; k <= kHoles; ++k) ctx.add(ctx.mkNot(ctx.mkAnd(p(i, j), p(k, j))));
    }
  }
  CheckResult r = ctx.check();
  ASSERT_EQ(r.status, Status::Unknown);
  EXPECT_FALSE(r.reason.empty());
}

}  // namespace
}  // namespace membrane::verify::smt
