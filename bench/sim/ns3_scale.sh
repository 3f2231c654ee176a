#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# ns3_scale.sh MEMBRANE [PODS] [NODES] [POLICIES] [FLOWS]: generates PODS pods on NODES nodes
# (leaf-spine, one rack per 10 nodes, 2 spines) with POLICIES policies (one label group per
# policy, 10 consecutive pods on 10 consecutive nodes: a group's pods reach each other on 8080) and FLOWS request-response flows between
# pods of one group on different nodes (RATE req/s each, 1 s), runs
# `membrane sim --backend ns3` on it and reports wall time, peak memory and the simulated pod
# packets per second of wall time (every packet through the programs of both its ends).
# Defaults: 10000 pods, 100 nodes, 1000 policies, 1000 flows. Needs root.
set -eu
membrane=$1 pods=${2:-10000} nodes=${3:-100} policies=${4:-1000} flows=${5:-1000}
rate=${RATE:-100}
. "$(dirname "$0")/../../tests/support/privileged.sh"
require_root "needs root (BPF_PROG_TEST_RUN)"
dir=$(mktemp -d /tmp/membrane-ns3-scale-XXXXXX)
trap 'rm -rf "$dir"' EXIT
racks=$(( (nodes + 9) / 10 ))
{
  echo "apiVersion: v1"
  echo "kind: Namespace"
  echo "metadata: {name: scale, labels: {kubernetes.io/metadata.name: scale}}"
  for n in $(seq 1 "$nodes"); do
    printf -- "---\napiVersion: v1\nkind: Node\nmetadata: {name: node-%d}\nspec: {podCIDR: 10.%d.%d.0/24}\nstatus: {addresses: [{type: InternalIP, address: 172.18.%d.%d}]}\n" \
      "$n" $((n / 250 + 1)) $((n % 250)) $((n / 250)) $((n % 250 + 2))
  done
  for p in $(seq 0 $((pods - 1))); do
    n=$((p % nodes + 1)) k=$((p / nodes))
    printf -- "---\napiVersion: v1\nkind: Pod\nmetadata: {name: pod-%d, namespace: scale, labels: {app: g%d}}\n" "$p" $((p / 10 % policies))
    printf "spec: {nodeName: node-%d, containers: [{name: c, ports: [{containerPort: 8080, protocol: TCP}]}]}\n" "$n"
    printf "status: {podIP: 10.%d.%d.%d}\n" $((n / 250 + 1)) $((n % 250)) $((k + 2))
  done
  for g in $(seq 0 $((policies - 1))); do
    printf -- "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: g%d, namespace: scale}\n" "$g"
    printf "spec:\n  podSelector: {matchLabels: {app: g%d}}\n  policyTypes: [Ingress]\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: g%d}}}]\n    ports: [{port: 8080, protocol: TCP}]\n" "$g" "$g"
  done
} >"$dir/manifests.yaml"
# A small table keeps the probe phase short: pods 0,5,...,45 against each other (group rule:
# pod p is in group p/10, on node p % NODES + 1).
{
  echo "description: generated ns3 scale scenario"
  echo "steps:"
  echo "  - name: initial"
  echo "    probes:"
  echo "      - port: 8080"
  echo "        protocol: TCP"
  echo "        table: |"
  ids=$(seq 0 5 45)
  cols="" ; for c in $ids; do cols="$cols scale/pod-$c"; done
  echo "          from\\to $cols"
  for r in $ids; do
    row="          scale/pod-$r"
    for c in $ids; do
      if [ "$r" = "$c" ]; then row="$row #"
      elif [ $((r / 10 % policies)) = $((c / 10 % policies)) ]; then row="$row ."
      else row="$row I"; fi
    done
    echo "$row"
  done
} >"$dir/expect.yaml"
{
  echo "cluster: {routing: overlay}"
  echo "underlay:"
  echo "  shape: leaf-spine"
  echo "  racks: $racks"
  echo "  spines: 2"
  echo "  link: {bandwidth: 10Gbps, delay: 2us, queue: 1000}"
  echo "  uplink: {bandwidth: 40Gbps, delay: 2us, queue: 1000}"
  echo "traffic:"
  # Flow f: the first pod of group f to the group's sixth pod, five nodes further on.
  for f in $(seq 0 $((flows - 1))); do
    src=$(( f * 10 % pods )) dst=$(( f * 10 % pods + 5 ))
    echo "  - {from: scale/pod-$src, to: scale/pod-$dst, protocol: TCP, port: \"8080\", rate: $rate, duration: 1}"
  done
} >"$dir/scenario.yaml"
echo "generated $pods pods on $nodes nodes ($racks racks), $policies policies, $flows flows x $rate req/s"
/usr/bin/time -f "wall %e s, peak memory %M KB" "$membrane" sim --backend ns3 "$dir" >"$dir/out" 2>"$dir/err" || {
  rc=$?; cat "$dir/err"; tail -30 "$dir/out"; exit $rc; }
grep -E "load:|ns-3:|underlay" "$dir/out" | sed 's/^note: //'
grep -E "^PASS|^FAIL" "$dir/out"
grep -E "wall .* peak" "$dir/err"
grep -E "applying|probing|simulated" "$dir/err" | tail -4
