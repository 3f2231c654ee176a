#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# broken_object.sh RUN_TESTS BUILD_DIR BROKEN_OBJECT TEST_REGEX: the test step of ci/test
# (ci/run-tests) on one privileged test must pass with the real datapath, and fail, printing
# the load error and the verifier's log, when MEMBRANE_BPF_OBJECT points the loader at an
# object the verifier rejects.
set -u
run_tests=$1 build=$2 broken=$3 regex=$4
. "$(dirname "$0")/../support/privileged.sh"
require_root "loading BPF programs needs root"
out=$(mktemp /tmp/membrane-broken-XXXXXX)
trap 'rm -f "$out"' EXIT
fail() {
  cat "$out"
  echo "FAIL: $1"
  exit 1
}
[ -s "$broken" ] || fail "no broken object at $broken"
export MEMBRANE_REQUIRE_PRIVILEGED=1

# The control: the same step, the same test, the real object.
env -u MEMBRANE_BPF_OBJECT "$run_tests" "$build" -R "$regex" >"$out" 2>&1
rc=$?
[ "$rc" = 0 ] || fail "with the real datapath the step exited $rc, expected 0"
grep -q "== tests: 1 passed, 0 failed, 0 skipped" "$out" || fail "control: counts not printed"

MEMBRANE_BPF_OBJECT=$broken "$run_tests" "$build" -R "$regex" >"$out" 2>&1
rc=$?
[ "$rc" != 0 ] || fail "with a rejected object the step exited 0"
grep -q "== tests: 0 passed, 1 failed, 0 skipped" "$out" || fail "counts do not show the failure"
grep -q "MEMBRANE_REQUIRE_PRIVILEGED=1 forbids skipping: kernel refused the datapath" "$out" ||
  fail "the test skipped or failed for another reason"
grep -q "load membrane_lxc (MEMBRANE_BPF_OBJECT=$broken)" "$out" || fail "no load error"
grep -q "verifier log:" "$out" || fail "no verifier log"
grep -q "invalid access to packet" "$out" || fail "the verifier's reason is missing"
echo "PASS: the real object passes; the rejected one fails the step with the verifier's log"
