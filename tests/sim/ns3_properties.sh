#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# ns3_properties.sh MEMBRANE SOURCE_DIR: the ns3 backend judges performance properties.
#  - perf-api-under-bulk, perf-two-zones and perf-onoff-burst hold (exit 0, every bound
#    "ok"; the bursts' loss is the queues' drops);
#  - perf-saturated-interzone (the same load, a 100 Mbit/s inter-zone link) breaks the API's
#    p99 and the transfer's throughput: exit 1, both named with measured vs bound, in text,
#    JSON and JUnit;
#  - bad input (a property naming no flow, a link without bandwidth, an unreachable node)
#    is exit 2 with scenario.yaml's line and column.
set -u
membrane=$1 src=$2
. "$(dirname "$0")/../support/privileged.sh"
require_root "the ns3 backend needs root (BPF_PROG_TEST_RUN)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/out" ] && cat "$tmp/out"; exit 1; }

for s in perf-api-under-bulk perf-two-zones perf-onoff-burst; do
  "$membrane" sim --quiet --backend ns3 "$src/scenarios/$s" >"$tmp/out" 2>&1 || fail "$s: exit $?"
  grep -q "^property .*: ok, measured" "$tmp/out" || fail "$s: no property judged ok"
  ! grep -q "^property .*FAIL" "$tmp/out" || fail "$s: a property failed"
  grep "^property\|^PASS" "$tmp/out"
done

# The bursts really overflow the queues: the loss is queue drops, not zero.
grep -q "queue drops" "$tmp/out" && ! grep -q " 0 queue drops" "$tmp/out" || fail "perf-onoff-burst: no queue drop"
grep -q "^flow \[0\] .*loss [1-9]" "$tmp/out" || fail "perf-onoff-burst: no loss measured"

s=$src/scenarios/perf-saturated-interzone
"$membrane" sim --quiet --backend ns3 "$s" --junit "$tmp/junit.xml" >"$tmp/out" 2>&1
rc=$?
[ $rc = 1 ] || fail "perf-saturated-interzone: exit $rc, expected 1"
grep -q "^property flow api p99: FAIL, measured .*ms, bound <= 2.000ms (.*scenario.yaml:[0-9]*:[0-9]*)" \
  "$tmp/out" || fail "the API's p99 is not reported as failed"
grep -q "^property flow backup throughput: FAIL, measured .*Mbps, bound >= 500.00Mbps" "$tmp/out" ||
  fail "the transfer's throughput is not reported as failed"
grep -q "^property flow api loss: ok" "$tmp/out" || fail "the API's loss bound should hold"
grep "^property" "$tmp/out"
grep -q 'name="property flow api p99"><failure message="measured .* bound &lt;= 2.000ms' "$tmp/junit.xml" || fail "JUnit: no p99 failure"
"$membrane" sim --quiet --backend ns3 -o json "$s" >"$tmp/out" 2>&1
grep -q '"properties_failed": 2' "$tmp/out" || fail "JSON: properties_failed is not 2"

# Bad input: each a copy of perf-two-zones with one scenario.yaml change.
bad() {  # NAME EXPECTED-MESSAGE: scenario.yaml from stdin
  d=$tmp/$1
  mkdir -p "$d"
  cp "$src/scenarios/perf-two-zones/manifests.yaml" "$src/scenarios/perf-two-zones/expect.yaml" "$d/"
  cat >"$d/scenario.yaml"
  "$membrane" sim --quiet --backend ns3 "$d" >"$tmp/out" 2>&1
  rc=$?
  [ $rc = 2 ] || fail "$1: exit $rc, expected 2"
  grep -q "$d/scenario.yaml:[0-9]*:[0-9]*.*$2" "$tmp/out" || fail "$1: no '$2' at scenario.yaml:line:col"
  grep "$2" "$tmp/out" | head -1
}
bad property-no-flow 'no traffic item is named "apx"' <<'Y'
traffic:
  - {name: api, from: shop/frontend, to: shop/backend, protocol: TCP, port: "8080"}
properties:
  - {flow: apx, p99: 1ms}
Y
bad link-without-bandwidth 'a link needs a bandwidth' <<'Y'
underlay:
  shape: two-zones
  link: {bandwidth: 1Gbps, delay: 5us}
  interzone: {delay: 2ms}
traffic:
  - {from: shop/frontend, to: shop/backend, protocol: TCP, port: "8080"}
Y
bad unreachable-node 'node node-2 cannot reach node node-1' <<'Y'
underlay:
  shape: links
  links:
    - {from: node-1, to: sw-a, bandwidth: 1Gbps}
    - {from: node-2, to: sw-b, bandwidth: 1Gbps}
traffic:
  - {from: shop/frontend, to: shop/backend, protocol: TCP, port: "8080"}
Y
echo "PASS: properties judged; bad input is exit 2 with its line"
