#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# membrane-proxy's documented exit codes: --help 0, bad usage 2, unusable rules file 1 with
# the file and field named.
set -u
bin=$1
dir=$(mktemp -d /tmp/membrane-proxy-cli-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$bin" --help >"$dir/out" || fail "--help exited $?"
grep -q "Exit codes" "$dir/out" || fail "--help does not document exit codes"
"$bin" >/dev/null 2>&1; rc=$?; [ $rc -eq 2 ] || fail "no --rules exited $rc, want 2"
"$bin" --rules x --port 70000 >/dev/null 2>&1; rc=$?; [ $rc -eq 2 ] || fail "bad port exited $rc"
printf '{"version": 1, "entries": [{"endpoint": "10.0.0.1", "direction": "egress", "port": 80, "http": [{"path": "(("}]}]}' >"$dir/rules.json"
"$bin" --rules "$dir/rules.json" --no-transparent --port 0 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] || fail "bad rules exited $rc, want 1"
grep -q "rules.json: entries\[0\].http\[0\].path: \"((\" is not a POSIX extended regex" "$dir/err" ||
  fail "error does not name file and field: $(cat "$dir/err")"
echo PASS
