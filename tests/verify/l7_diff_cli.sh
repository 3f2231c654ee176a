#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# l7_diff_cli.sh MEMBRANE SCENARIO_MANIFESTS: changing only the path of an HTTP rule changes no
# L3/L4 connection; `membrane diff --exit-code` must still exit 1 and name the rule change.
set -u
membrane=$1 before=$2
dir=$(mktemp -d /tmp/membrane-l7diff-XXXXXX)
trap 'rm -rf "$dir"' EXIT
sed 's#path: /status#path: /health#' "$before" >"$dir/after.yaml"
cmp -s "$before" "$dir/after.yaml" && { echo "FAIL: the manifests have no path /status"; exit 1; }
"$membrane" diff --exit-code "$before" "$dir/after.yaml" >"$dir/out"
rc=$?
cat "$dir/out"
[ "$rc" -eq 1 ] || { echo "FAIL: exit $rc, expected 1"; exit 1; }
grep -q '^L7 diff:' "$dir/out" || { echo "FAIL: no L7 diff section"; exit 1; }
grep -q 'before: http: method=GET path=/status' "$dir/out" || { echo "FAIL: before"; exit 1; }
grep -q 'after:  http: method=GET path=/health' "$dir/out" || { echo "FAIL: after"; exit 1; }
"$membrane" diff --exit-code "$before" "$before" >"$dir/same" || { echo "FAIL: same differs"; exit 1; }
! grep -q 'L7 diff' "$dir/same" || { echo "FAIL: L7 diff without a change"; exit 1; }
echo PASS
