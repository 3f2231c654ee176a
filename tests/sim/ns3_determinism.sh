#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# ns3_determinism.sh MEMBRANE SCENARIO: with a fixed charge per program run the ns3 backend's
# measurements repeat exactly (two runs, same flow lines), and the reply verdict cache gives
# the same verdicts and numbers as running every program: verify mode finds 0 differences
# over a non-zero number of cached runs, and the cached run's flow lines equal the uncached.
set -u
membrane=$1 scenario=$2
. "$(dirname "$0")/../support/privileged.sh"
require_root "the ns3 backend needs root (BPF_PROG_TEST_RUN)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() {  # NAME ARGS...
  name=$1
  shift
  "$membrane" sim --quiet --backend ns3 --bpf-cost-ns 400 "$@" "$scenario" >"$tmp/$name" 2>&1 ||
    { cat "$tmp/$name"; echo "FAIL: $name: exit $?"; exit 1; }
  grep "^flow" "$tmp/$name" >"$tmp/$name.flows"
  [ -s "$tmp/$name.flows" ] || { echo "FAIL: $name: no flow measured"; exit 1; }
}
run a
run b
run verify --verdict-cache verify
run cached --verdict-cache on
cmp "$tmp/a.flows" "$tmp/b.flows" || { echo "FAIL: two runs measured differently"; diff "$tmp/a.flows" "$tmp/b.flows"; exit 1; }
cmp "$tmp/a.flows" "$tmp/cached.flows" || { echo "FAIL: the verdict cache changed the measurements"; diff "$tmp/a.flows" "$tmp/cached.flows"; exit 1; }
grep -q "verdict cache (verify): [1-9][0-9]* program runs .*: 0 differed" "$tmp/verify" ||
  { grep "verdict cache" "$tmp/verify"; echo "FAIL: verify found differences or checked nothing"; exit 1; }
cat "$tmp/a.flows"
grep "verdict cache" "$tmp/verify" "$tmp/cached"
echo "PASS: identical measurements run after run; the verdict cache agrees with the programs"
