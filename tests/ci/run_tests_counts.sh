#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# run_tests_counts.sh RUN_TESTS: ci/run-tests on a throwaway ctest directory with one passing,
# one failing, one skipping test and one whose executable is missing (a failure, not a skip):
# its counts and exit codes, and that a skip as root fails.
set -u
run_tests=$1
dir=$(mktemp -d /tmp/membrane-runtests-XXXXXX)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/CTestTestfile.cmake" <<'CT'
add_test(ok "/bin/true")
add_test(bad "/bin/false")
add_test(skip "/bin/sh" "-c" "echo SKIP: no reason; exit 77")
set_tests_properties(skip PROPERTIES SKIP_RETURN_CODE 77)
add_test(missing "/nonexistent/membrane-test-binary")
CT
failures=0
# expect RC COUNTS ARGS...: run-tests exits RC and prints the counts line COUNTS.
expect() {
  want_rc=$1 counts=$2
  shift 2
  "$run_tests" "$dir" "$@" >"$dir/out" 2>&1
  rc=$?
  if [ "$rc" != "$want_rc" ] || ! grep -q "^== tests: $counts\$" "$dir/out"; then
    cat "$dir/out"
    echo "FAIL: run-tests $*: exit $rc (expected $want_rc), counts expected '$counts'"
    failures=$((failures + 1))
  fi
}
expect 0 "1 passed, 0 failed, 0 skipped" -R '^ok$'
expect 1 "0 passed, 1 failed, 0 skipped" -R '^bad$'
expect 1 "1 passed, 2 failed, 1 skipped"
expect 1 "0 passed, 1 failed, 0 skipped" -R '^missing$'
if [ "$(id -u)" = 0 ]; then
  expect 1 "0 passed, 0 failed, 1 skipped" -R '^skip$'
else
  expect 0 "0 passed, 0 failed, 1 skipped" -R '^skip$'
fi
expect 1 "0 passed, 0 failed, 0 skipped" -R '^no-such-test$'
"$run_tests" "$dir/nowhere" >/dev/null 2>&1
rc=$?
[ "$rc" = 2 ] || { echo "FAIL: a missing build dir exited $rc, expected 2"; failures=$((failures + 1)); }
[ "$failures" = 0 ] && echo "PASS: run-tests counts and exit codes"
[ "$failures" = 0 ]
