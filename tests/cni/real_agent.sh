#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cni.real_agent: the membrane-cni binary, invoked as a runtime would (environment + stdin),
# against the real membrane-agent running in a node namespace of this test; pods are
# namespaces of this test. Every command and the errors a node sees: ADD (1.1.0 and 0.4.0
# shapes, requested IP, labels from args), idempotent ADD, CHECK (ok, then a broken pod
# interface), GC, DEL twice, a missing netns, the agent down (ADD 11 with nothing created, DEL
# queued and drained after the restart).
#
# Usage: real_agent.sh MEMBRANE_CNI MEMBRANE_AGENT   (exit 77: not root / agent not built)
set -euo pipefail
cni=$(readlink -f "$1"); agent_bin=${2:-none}
. "$(dirname "$0")/../support/privileged.sh"
[ "$(id -u)" -eq 0 ] || require_or_skip "cni.real_agent: needs root"
[ -x "$agent_bin" ] || require_or_skip "cni.real_agent: membrane-agent not built"
agent_bin=$(readlink -f "$agent_bin")
command -v jq > /dev/null && have_jq=1 || have_jq=0

p="mcr$$"
T=$(mktemp -d /tmp/membrane-cni-real.XXXXXX)
agent_pid=""
failed=1
stop_agent() {
  if [ -n "$agent_pid" ]; then kill -TERM "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true; agent_pid=""; fi
}
cleanup() {
  set +e
  stop_agent
  nsenter --net="/run/netns/$p-node" "$agent_bin" --uninstall --config "$T/agent.yaml" \
    >> "$T/agent.log" 2>&1
  mountpoint -q "$T/bpffs" && umount "$T/bpffs"
  for ns in $(ip netns list | awk '{print $1}' | grep "^$p-"); do ip netns del "$ns"; done
  if [ "$failed" != 0 ]; then
    echo "--- agent log"; tail -n 30 "$T/agent.log"; echo "--- plugin log"; tail -n 30 "$T/cni.log"
  fi
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "cni.real_agent: FAIL: $*"; exit 1; }
api() { curl -sS --max-time 5 --unix-socket "$T/agent.sock" "http://agent$1"; }

ip netns add "$p-node"; ip netns add "$p-peer"
ip link add "$p-up" netns "$p-node" type veth peer name "$p-dn" netns "$p-peer"
ip -n "$p-node" addr add 192.168.79.1/24 dev "$p-up"; ip -n "$p-node" link set "$p-up" up
ip -n "$p-node" link set lo up
for i in 1 2 3 4; do ip netns add "$p-pod$i"; done
mkdir -p "$T/bpffs" "$T/manifests"
mount -t bpf bpf "$T/bpffs"
cat > "$T/manifests/pods.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: prod, labels: {app: web}}
spec: {nodeName: node-1, containers: [{name: c}]}
YAML
cat > "$T/agent.yaml" <<YAML
nodeName: node-1
nodeIP: 192.168.79.1
podCIDR: 10.79.1.0/24
uplink: $p-up
stateDir: $T/state
bpffsDir: $T/bpffs/membrane
socket: $T/agent.sock
manifests: $T/manifests
YAML
start_agent() {
  nsenter --net="/run/netns/$p-node" "$agent_bin" --config "$T/agent.yaml" >> "$T/agent.log" 2>&1 &
  agent_pid=$!
  for _ in $(seq 1 300); do
    curl -sf --unix-socket "$T/agent.sock" http://agent/healthz > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "agent not healthy"
}

conf() {  # conf VERSION [EXTRA-JSON-MEMBERS]
  echo "{\"cniVersion\": \"$1\", \"name\": \"membrane\", \"type\": \"membrane-cni\",
         \"agentSocket\": \"$T/agent.sock\", \"delQueueDir\": \"$T/q\",
         \"logFile\": \"$T/cni.log\"${2:+, $2}}"
}
# cni CMD ID POD VERSION [EXTRA] [CNI_ARGS]: the plugin's stdout in $out, its status in $rc
cni() {
  local netns="/run/netns/$p-$3"; [ "$3" = "-" ] && netns=""
  set +e
  out=$(conf "$4" "${5:-}" | CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=$netns CNI_IFNAME=eth0 \
        CNI_PATH=/usr/lib/cni CNI_ARGS="${6:-IgnoreUnknown=1}" "$cni")
  rc=$?
  set -e
}
code_of() { sed -n 's/.*"code":\([0-9]*\).*/\1/p' <<< "$1"; }
expect_code() {  # expect_code WANT OUTPUT WHAT
  [ "$(code_of "$2")" = "$1" ] || fail "$3: expected CNI error $1, got: $2"
}

start_agent
cni STATUS - - 1.1.0; [ $rc = 0 ] || fail "STATUS: $out"

# ADD, CNI 1.1.0 shape, labels from the Pod object prod/web
cni ADD c1 pod1 1.1.0 "" "K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web"; r1=$out; [ $rc = 0 ] || fail "ADD c1: $r1"
ip1=$(sed -n 's/.*"address":"\([0-9.]*\)\/32".*/\1/p' <<< "$r1")
[ -n "$ip1" ] || fail "ADD c1 result has no /32 address: $r1"
grep -q '"mtu":1450' <<< "$r1" || fail "1.1.0 result lacks interfaces[].mtu: $r1"
grep -q '"version"' <<< "$r1" && fail "1.x result carries ips[].version: $r1"
ip -n "$p-pod1" -4 addr show eth0 | grep -q "inet $ip1/" || fail "pod1 eth0 lacks $ip1"
api "/v1/endpoints/c1?ifname=eth0" | grep -q '"app":"web"' || fail "c1 lacks the Pod's labels"
cni ADD c1 pod1 1.1.0 "" "K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web"; r1b=$out
[ "$r1b" = "$r1" ] || fail "repeated ADD differs: $r1b"

# ADD, CNI 0.4.0 shape, requested IP, labels from the netconf (no Pod object)
cni ADD c2 pod2 0.4.0 '"args": {"cni": {"labels": {"app": "lonely"}}}' \
     "K8S_POD_NAME=nopod;IP=10.79.1.50"; r2=$out; [ $rc = 0 ] || fail "ADD c2: $r2"
grep -q '"address":"10.79.1.50/32"' <<< "$r2" || fail "IP= not honoured: $r2"
grep -q '"version":"4"' <<< "$r2" || fail "0.4.0 result lacks ips[].version: $r2"
api "/v1/endpoints/c2?ifname=eth0" | grep -q '"app":"lonely"' || fail "c2 lacks args labels"
# A requested address held by another endpoint (409) or outside the pod CIDR (400): error 4,
# and nothing in the pod
cni ADD c5 pod3 1.0.0 "" "IP=10.79.1.50"; expect_code 4 "$out" "ADD of a taken address"
cni ADD c5 pod3 1.0.0 "" "IP=10.80.0.5"; expect_code 4 "$out" "ADD outside the pod CIDR"
ip -n "$p-pod3" link show eth0 > /dev/null 2>&1 && fail "a refused ADD left eth0 in pod3"

# CHECK: fine, then with the pod's address removed behind the agent's back
cni CHECK c1 pod1 1.1.0 "\"prevResult\": $r1"; [ $rc = 0 ] || fail "CHECK c1: $out"
ip -n "$p-pod1" addr flush dev eth0
cni CHECK c1 pod1 1.1.0 "\"prevResult\": $r1"; expect_code 60 "$out" "CHECK of a broken pod"

# A missing netns: error 4, nothing created
n_before=$(api /v1/endpoints | grep -o '"containerId"' | wc -l)
cni ADD c9 gone 1.0.0; expect_code 4 "$out" "ADD with a missing netns"
[ "$(api /v1/endpoints | grep -o '"containerId"' | wc -l)" = "$n_before" ] || fail "c9 half-created"

# GC keeps c2 only
cni GC - - 1.1.0 '"cni.dev/valid-attachments": [{"containerID": "c2", "ifname": "eth0"}]'
[ $rc = 0 ] || fail "GC: $out"
api /v1/endpoints | grep -q '"containerId":"c1"' && fail "GC left c1"
ip -n "$p-pod1" link show eth0 > /dev/null 2>&1 && fail "GC left c1's interface"

# DEL twice
cni DEL c2 pod2 0.4.0; [ $rc = 0 ] || fail "DEL c2: $out"
cni DEL c2 pod2 0.4.0; [ $rc = 0 ] || fail "second DEL c2: $out"
ip -n "$p-pod2" link show eth0 > /dev/null 2>&1 && fail "DEL left c2's interface"

# The agent down: ADD -> 11 and nothing in the pod; DEL -> queued, drained after restart
cni ADD c3 pod3 1.0.0; r3=$out; [ $rc = 0 ] || fail "ADD c3: $r3"
stop_agent
cni ADD c4 pod4 1.0.0; expect_code 11 "$out" "ADD with the agent down"
ip -n "$p-pod4" link show eth0 > /dev/null 2>&1 && fail "ADD with the agent down created eth0"
cni DEL c3 pod3 1.0.0; [ $rc = 0 ] || fail "DEL with the agent down failed: $out"
[ -f "$T/q/c3:eth0.json" ] || fail "DEL not queued"
start_agent
cni STATUS - - 1.1.0; [ $rc = 0 ] || fail "STATUS after restart: $out"
[ -f "$T/q/c3:eth0.json" ] && fail "queued DEL not applied"
api /v1/endpoints | grep -q '"containerId":"c3"' && fail "c3 survived its queued DEL"
ip -n "$p-pod3" link show eth0 > /dev/null 2>&1 && fail "c3's interface survived"
failed=0
echo "cni.real_agent: PASS"
