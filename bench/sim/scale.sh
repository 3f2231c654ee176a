#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# scale.sh MEMBRANE [PODS] [NODES]: brings up PODS pods on NODES nodes with
# `membrane sim --backend netns` (overlay and native: a membrane-agent process per node,
# every pod created by membrane-cni ADD) and reports the bring-up time, the per-pod cost
# and the probe rate, beside a baseline measured in the same run: the bare
# kernel work of one namespace plus one veth pair into it, created with one `ip` process per
# operation (the ~5 ms the issue quotes). Needs root; everything lives in msim<pid>-
# namespaces and is removed at the end. PORTS=9090 probes only allowed cells, MODES picks modes.
set -eu
membrane=$1 pods=${2:-100} nodes=${3:-4}
. "$(dirname "$0")/../../tests/support/privileged.sh"
require_root "needs root"
dir=$(mktemp -d /tmp/membrane-scale-XXXXXX)
trap 'rm -rf "$dir"' EXIT
groups=10
{
  echo "# SPDX-License-Identifier: Apache-2.0"
  echo "apiVersion: v1"
  echo "kind: Namespace"
  echo "metadata: {name: scale, labels: {kubernetes.io/metadata.name: scale}}"
  for n in $(seq 1 "$nodes"); do
    printf -- "---\napiVersion: v1\nkind: Node\nmetadata: {name: node-%d}\nspec: {podCIDR: 10.%d.0.0/16}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.%d}]}\n" \
      "$n" $((100 + n)) $((1 + n))
  done
  for p in $(seq 0 $((pods - 1))); do
    n=$((p % nodes + 1))
    printf -- "---\napiVersion: v1\nkind: Pod\nmetadata: {name: pod-%d, namespace: scale, labels: {app: web-%d}}\n" "$p" $((p % groups))
    printf "spec: {nodeName: node-%d, containers: [{name: c, ports: [{containerPort: 8080, protocol: TCP}, {containerPort: 9090, protocol: TCP}]}]}\n" "$n"
    printf "status: {podIP: 10.%d.%d.%d}\n" $((100 + n)) $((p / 200)) $((p % 200 + 2))
  done
  # Same-app traffic on 8080, anyone on 9090.
  printf -- "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: same-app, namespace: scale}\n"
  printf "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress:\n  - ports: [{port: 9090, protocol: TCP}]\n"
  for g in $(seq 0 $((groups - 1))); do
    printf -- "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web-%d, namespace: scale}\n" "$g"
    printf "spec:\n  podSelector: {matchLabels: {app: web-%d}}\n  policyTypes: [Ingress]\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: web-%d}}}]\n    ports: [{port: 8080, protocol: TCP}]\n" "$g" "$g"
  done
} >"$dir/manifests.yaml"
# Columns: the first pod of each group; rows: every pod. Cells by the rule above.
cols=""
for g in $(seq 0 $((groups - 1))); do cols="$cols scale/pod-$g"; done
table() { # port
  echo "        table: |"
  echo "          from\\to $cols"
  for p in $(seq 0 $((pods - 1))); do
    row="          scale/pod-$p"
    for g in $(seq 0 $((groups - 1))); do
      if [ "$p" = "$g" ]; then row="$row #"
      elif [ "$1" = 9090 ] || [ $((p % groups)) = "$g" ]; then row="$row ."
      else row="$row I"; fi
    done
    echo "$row"
  done
}
{
  echo "# SPDX-License-Identifier: Apache-2.0"
  echo "description: generated scale scenario"
  echo "steps:"
  echo "  - name: initial"
  echo "    probes:"
  for port in ${PORTS:-9090 8080}; do
    echo "      - port: $port"
    echo "        protocol: TCP"
    table $port
  done
} >"$dir/expect.yaml"

# Baseline: 20 x (netns add + veth pair into it), one ip process per operation, the host
# end in a namespace of the run (nothing is created in the root namespace).
base="msim$$-b"
ip netns add "${base}n"
t0=$(date +%s%N)
for i in $(seq 1 20); do
  ip netns add "$base$i"
  ip -n "${base}n" link add "x$i" type veth peer name eth0 netns "$base$i"
done
t1=$(date +%s%N)
for i in $(seq 1 20); do ip netns del "$base$i"; done
ip netns del "${base}n"
baseline_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e6 / 20 }')
echo "baseline: namespace + veth pair = $baseline_ms ms per pod (20 samples, ip per operation)"

for mode in ${MODES:-overlay native}; do
  t0=$(date +%s%N)
  "$membrane" sim --backend netns --mode "$mode" "$dir" >"$dir/out.txt" 2>"$dir/err.txt" || {
    grep -E "MISMATCH|error" "$dir/out.txt" "$dir/err.txt" | head -20
    echo "FAIL ($mode)"
    exit 1
  }
  t1=$(date +%s%N)
  up=$(grep -o "underlay up in [0-9]* ms" "$dir/out.txt" | grep -o "[0-9]*" | head -1)
  agents=$(grep -o "membrane-agent processes healthy in [0-9]* ms" "$dir/out.txt" | grep -o "[0-9]*" | head -1)
  applied=$(grep -o "step 0: [0-9]* agents applied the step's manifests in [0-9]* ms" "$dir/out.txt" | grep -o "in [0-9]*" | grep -o "[0-9]*")
  added=$(grep -o "step 0: $pods pods added by membrane-cni ADD in [0-9]* ms" "$dir/out.txt" | grep -o "in [0-9]*" | grep -o "[0-9]*")
  probes=$(grep -o "step 0: [0-9]* probes in [0-9]* ms ([0-9]* probes/s)" "$dir/out.txt" | head -1)
  per_pod=$(awk -v a="$added" -v n="$pods" 'BEGIN { printf "%.2f", a / n }')
  ratio=$(awk -v a="$per_pod" -v b="$baseline_ms" 'BEGIN { printf "%.2f", a / b }')
  total=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  echo "$mode: $pods pods on $nodes nodes: underlay ${up} ms, $nodes agents healthy ${agents} ms," \
       "manifests applied ${applied} ms, pods by membrane-cni ADD ${added} ms" \
       "(${per_pod} ms/pod = ${ratio}x baseline); $probes; whole run ${total} s"
done
