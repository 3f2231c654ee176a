#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# mismatch.sh MEMBRANE BACKEND: a copy of scenarios/multi-node-overlay with two cells
# flipped (an allowed flow expected blocked, a blocked one expected allowed) must fail with
# exit 1, name both cells, and (bpf, netns) show the datapath's events: the ingress drop
# with its reason on the destination node.
set -u
membrane=$1 backend=$2
. "$(dirname "$0")/../support/privileged.sh"
[ "$backend" = model ] || require_root "the $backend backend needs root"
src=$(dirname "$0")/../../scenarios/multi-node-overlay
dir=$(mktemp -d /tmp/membrane-mismatch-XXXXXX)
trap 'rm -rf "$dir"' EXIT
cp -L "$src/manifests.yaml" "$src/expect.yaml" "$dir/"
# TCP 8080 row mesh/a: ". I ." towards b, c, d becomes "I . ."
sed -i '0,/mesh\/a   #       .       I       ./s//mesh\/a   #       I       .       ./' \
  "$dir/expect.yaml"
"$membrane" sim --quiet --backend "$backend" "$dir" >"$dir/out.txt" 2>&1
rc=$?
fail() {
  cat "$dir/out.txt"
  echo "FAIL: $1"
  exit 1
}
[ "$rc" = 1 ] || fail "exit $rc, expected 1"
grep -q "MISMATCH \[initial\] TCP 8080 mesh/a -> mesh/b: expected I, observed ." "$dir/out.txt" ||
  fail "allowed cell not reported"
grep -q "MISMATCH \[initial\] TCP 8080 mesh/a -> mesh/c: expected ., observed I" "$dir/out.txt" ||
  fail "blocked cell not reported"
if [ "$backend" != model ]; then
  grep -q "event: node-3: ingress DROPPED (POLICY_DENIED) 10.244.1.10" "$dir/out.txt" ||
    fail "no drop event of node-3 for a -> c"
fi
echo "PASS: mismatches reported with their events ($backend)"
