#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# judge.sh MEMBRANE BACKEND DROPS_8080_OBJECT: `membrane sim` judges, not only reports. On
# scenarios/multi-node-overlay's cluster (mesh/a may reach mesh/b on TCP 8080):
#  - a table without expectations ('?') passes with the real datapath, and fails (bpf, netns)
#    when MEMBRANE_BPF_OBJECT loads a datapath that drops TCP 8080 on entry: the model and
#    the backend disagree, reported by cell with the node's drop event;
#  - a traffic item the model allows fails on that datapath; one whose `expect` contradicts
#    the policy fails on any backend;
#  - an invariant the policy violates fails, with its witness.
set -u
membrane=$1 backend=$2 broken=$3
. "$(dirname "$0")/../support/privileged.sh"
[ "$backend" = model ] || require_root "the $backend backend needs root"
src=$(dirname "$0")/../../scenarios/multi-node-overlay
dir=$(mktemp -d /tmp/membrane-judge-XXXXXX)
trap 'rm -rf "$dir"' EXIT
failures=0
fail() {
  cat "$dir/out"
  echo "FAIL: $1"
  failures=$((failures + 1))
}
# scenario NAME TRAFFIC_EXPECT INVARIANT_EXPECT: a scenario directory $dir/NAME.
scenario() {
  mkdir -p "$dir/$1"
  cp -L "$src/manifests.yaml" "$dir/$1/"
  cat >"$dir/$1/expect.yaml" <<'YAML'
description: no expectations, the backend is judged against the model
steps:
  - name: initial
    probes:
      - port: 8080
        protocol: TCP
        table: |
          from\to  mesh/a  mesh/b
          mesh/a   #       ?
          mesh/c   ?       ?
YAML
  {
    echo "cluster: {name: mesh, routing: overlay}"
    [ -n "$3" ] && echo "invariants: invariants.yaml"
    echo "traffic:"
    echo "  - {from: mesh/a, to: mesh/b, protocol: TCP, port: \"8080\", rate: 5, duration: 1$2}"
  } >"$dir/$1/scenario.yaml"
  if [ -n "$3" ]; then
    cat >"$dir/$1/invariants.yaml" <<YAML
apiVersion: membrane/v1
kind: Invariants
invariants:
  - name: a-reaches-b
    expect: allow
    from: {pod: mesh/a}
    to: {pod: mesh/b}
    ports: [{port: 8080, protocol: TCP}]
  - name: judged-one
    expect: $3
    from: {pod: mesh/a}
    to: {pod: mesh/b}
    ports: [{port: 8080, protocol: TCP}]
YAML
  fi
}
# run DIR [ENV...]: membrane sim on DIR; sets rc, output in $dir/out.
run() {
  d=$1
  shift
  env "$@" "$membrane" sim --quiet --backend "$backend" "$dir/$d" >"$dir/out" 2>&1
  rc=$?
}

scenario plain "" allow
run plain
[ "$rc" = 0 ] || fail "real datapath, no expectations: exit $rc, expected 0"
grep -q "invariant \[initial\] judged-one: holds" "$dir/out" || fail "invariant not reported"
grep -q "traffic \[0\] mesh/a -> mesh/b TCP 8080: ok, expected allow (the model's verdict)" \
  "$dir/out" || fail "traffic item not judged"
if [ "$backend" = netns ]; then
  # The request-response item is also measured over one real connection (sim/netns_load.h).
  grep -Eq "^flow \[0\] sent 5, delivered 5, loss 0.000%, throughput [0-9.]+Kbps, latency p50 [0-9.]+(ns|us|ms) p99" \
    "$dir/out" || fail "netns request-response load not measured"
fi

scenario violated "" deny
run violated
[ "$rc" = 1 ] || fail "violated invariant: exit $rc, expected 1"
grep -q "invariant \[initial\] judged-one: FAIL violated: .*witness" "$dir/out" ||
  fail "violated invariant not reported with its witness"

scenario flipped ", expect: deny" ""
run flipped
[ "$rc" = 1 ] || fail "traffic expecting deny of an allowed flow: exit $rc, expected 1"
grep -q "traffic \[0\] mesh/a -> mesh/b TCP 8080: FAIL, expected deny (expect), observed \." \
  "$dir/out" || fail "flipped traffic expectation not reported"

if [ "$backend" != model ]; then
  run plain "MEMBRANE_BPF_OBJECT=$broken"
  [ "$rc" = 1 ] || fail "datapath dropping 8080: exit $rc, expected 1"
  grep -q "DISAGREE \[initial\] TCP 8080 mesh/a -> mesh/b: model \., observed I" "$dir/out" ||
    fail "model/backend disagreement not reported by cell"
  grep -q "event: node-[0-9]*: ingress DROPPED (POLICY_DENIED)" "$dir/out" ||
    fail "no drop event of the destination node"
  grep -q "traffic \[0\] mesh/a -> mesh/b TCP 8080: FAIL, expected allow (the model's verdict), observed I" \
    "$dir/out" || fail "traffic the datapath drops not reported"
  if [ "$backend" = netns ]; then
    grep -q "load 0/5 delivered" "$dir/out" || fail "netns load not judged"
    grep -q "^flow \[0\] sent 5, delivered 0, loss 100.000%" "$dir/out" ||
      fail "netns measured requests on a connection the datapath drops"
  fi
fi
[ "$failures" = 0 ] || exit 1
echo "PASS: membrane sim judges disagreements, traffic and invariants ($backend)"
