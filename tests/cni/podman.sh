#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cni.podman: a real container runtime calls membrane-cni. Rootful podman (Debian, CNI
# backend) runs busybox containers imported from /bin/busybox (no registry) on a "membrane"
# network; the real membrane-agent runs in a node namespace of this test; two containers
# talk or are refused as the NetworkPolicy says; a DEL made while the agent is down is queued
# and applied when it returns; stopping a container releases its address.
#
# Usage: podman.sh MEMBRANE_CNI MEMBRANE_AGENT     (exit 77: not root / podman or agent missing)
# Isolation: CONTAINERS_CONF points at a temp file (network_config_dir, plugin dirs private),
# podman --root/--runroot/--tmpdir in a temp dir, vfs storage; the agent's bpffs, state dir,
# socket and manifests are temp too. Everything is removed on exit, also on failure.
set -euo pipefail
cni=$(readlink -f "$1"); agent_bin=${2:-none}
. "$(dirname "$0")/../support/privileged.sh"
[ "$(id -u)" -eq 0 ] || require_or_skip "cni.podman: needs root"
command -v podman >/dev/null || require_or_skip "cni.podman: podman missing"
[ -x /bin/busybox ] || require_or_skip "cni.podman: busybox-static missing"
[ -x "$agent_bin" ] || require_or_skip "cni.podman: membrane-agent not built ($agent_bin)"
agent_bin=$(readlink -f "$agent_bin")

p="mcp$$"
T=$(mktemp -d /tmp/membrane-cni-podman.XXXXXX)
had_var_lib_cni=0; [ -e /var/lib/cni ] && had_var_lib_cni=1
agent_pid=""
export CONTAINERS_CONF="$T/containers.conf"
pm() { podman --root "$T/root" --runroot "$T/runroot" --tmpdir "$T/tmp" --storage-driver vfs "$@"; }
api() { curl -sS --max-time 5 --unix-socket "$T/agent.sock" "http://agent$1"; }

stop_agent() {
  if [ -n "$agent_pid" ]; then kill -TERM "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true; agent_pid=""; fi
}
cleanup() {
  set +e
  pm rm -a -f -t 0 >/dev/null 2>&1
  pm rmi -a -f >/dev/null 2>&1
  stop_agent
  nsenter --net="/run/netns/$p-node" "$agent_bin" --uninstall --config "$T/agent.yaml" \
    >> "$T/agent.log" 2>&1
  mountpoint -q "$T/bpffs" && umount "$T/bpffs"
  for ns in $(ip netns list | awk '{print $1}' | grep "^$p-"); do ip netns del "$ns"; done
  # libcni's result cache: remove only what this test created.
  if [ "$had_var_lib_cni" = 0 ]; then rm -rf /var/lib/cni; else
    rm -f /var/lib/cni/results/membrane-* ; fi
  if [ "${failed:-1}" != 0 ]; then
    echo "--- agent log"; tail -n 40 "$T/agent.log" 2>/dev/null
    echo "--- plugin log"; tail -n 40 "$T/cni.log" 2>/dev/null
  fi
  rm -rf "$T"
}
trap cleanup EXIT
failed=1
fail() { echo "cni.podman: FAIL: $*"; exit 1; }
wait_for() {  # wait_for TRIES CMD...: poll a condition, never a fixed sleep
  local n=$1; shift
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# --- node namespace with an uplink to a peer namespace (no route to the host's interfaces)
ip netns add "$p-node"; ip netns add "$p-peer"
ip link add "$p-up" netns "$p-node" type veth peer name "$p-dn" netns "$p-peer"
ip -n "$p-node" addr add 192.168.77.1/24 dev "$p-up"; ip -n "$p-node" link set "$p-up" up
ip -n "$p-peer" addr add 192.168.77.2/24 dev "$p-dn"; ip -n "$p-peer" link set "$p-dn" up
ip -n "$p-node" link set lo up
mkdir -p "$T/bpffs" "$T/manifests" "$T/plugins" "$T/net.d" "$T/rootfs/bin"
mount -t bpf bpf "$T/bpffs"

# --- desired state: labels by Pod name (podman sends K8S_POD_NAME = container name, namespace
# default) and a policy: only app=client reaches app=web on 8080.
cat > "$T/manifests/app.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec: {nodeName: node-1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
spec: {nodeName: node-1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: default, labels: {app: other}}
spec: {nodeName: node-1, containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-client, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 8080, protocol: TCP}]
YAML
cat > "$T/agent.yaml" <<YAML
nodeName: node-1
nodeIP: 192.168.77.1
podCIDR: 10.77.1.0/24
routing: overlay
uplink: $p-up
stateDir: $T/state
bpffsDir: $T/bpffs/membrane
socket: $T/agent.sock
manifests: $T/manifests
YAML
start_agent() {
  nsenter --net="/run/netns/$p-node" "$agent_bin" --config "$T/agent.yaml" >> "$T/agent.log" 2>&1 &
  agent_pid=$!
  wait_for 300 sh -c "curl -sf --unix-socket '$T/agent.sock' http://agent/healthz" ||
    fail "agent not healthy (log: $(tail -n 5 "$T/agent.log"))"
}
start_agent

# --- podman: private config, plugin dir, network, image
ln -s "$cni" "$T/plugins/membrane-cni"
cat > "$T/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[network]
network_backend = "cni"
cni_plugin_dirs = ["$T/plugins", "/usr/lib/cni"]
network_config_dir = "$T/net.d"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
CONF
cat > "$T/net.d/membrane.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "membrane",
 "plugins": [{"type": "membrane-cni", "capabilities": {"ips": true},
              "agentSocket": "$T/agent.sock",
              "delQueueDir": "$T/del-queue", "logFile": "$T/cni.log"}]}
JSON
cp /bin/busybox "$T/rootfs/bin/"
for a in sh nc sleep echo ip cat; do ln -s busybox "$T/rootfs/bin/$a"; done
tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
pm import --change 'CMD ["/bin/sh"]' "$T/rootfs.tar" localhost/bb:1 >/dev/null

run() { pm run -d --name "$1" --network membrane $opts localhost/bb:1 "${@:2}" >/dev/null; }
opts=""
ipof() { pm inspect "$1" --format '{{.NetworkSettings.Networks.membrane.IPAddress}}'; }
run web nc -ll -p 8080 -e echo hello-from-web
run client sleep 600
run other sleep 600
web_ip=$(ipof web); client_ip=$(ipof client)
echo "web $web_ip, client $client_ip, other $(ipof other)"
[ -n "$web_ip" ] || fail "web has no address"
pm exec web ip -4 addr show eth0 | grep -q "inet $web_ip/" || fail "eth0 of web lacks $web_ip"
api /v1/endpoints | grep -q "\"podName\":\"web\"" || fail "agent does not list web"

# --- policy: client may, other may not
probe() { pm exec "$1" sh -c "echo | nc -w 3 $web_ip 8080" 2>/dev/null || true; }
out=$(probe client); [ "$out" = "hello-from-web" ] || fail "client -> web:8080 refused ($out)"
out=$(probe other); [ -z "$out" ] || fail "other -> web:8080 was allowed ($out)"
echo "policy: client -> web:8080 allowed, other -> web:8080 refused"

# --- DEL while the agent is down: queued, success; applied when it is back
client_id=$(pm inspect client --format '{{.Id}}')
stop_agent
pm rm -f -t 0 client >/dev/null || fail "podman rm with the agent down failed (DEL must succeed)"
[ -f "$T/del-queue/$client_id:eth0.json" ] || fail "DEL was not queued"
start_agent
# An ADD (with podman's --ip: runtimeConfig.ips): the plugin replays the queue first.
opts="--ip 10.77.1.77" run client2 sleep 600
[ "$(ipof client2)" = 10.77.1.77 ] || fail "--ip 10.77.1.77 not honoured: $(ipof client2)"
wait_for 50 sh -c "! ls '$T/del-queue'/*.json" || fail "queued DEL not applied"
api /v1/endpoints | grep -q "$client_id" && fail "client's endpoint survived its queued DEL"
echo "DEL with the agent down: queued, applied after restart"

# --- stopping a container releases its address
pm rm -f -t 0 web >/dev/null
api /v1/endpoints | grep -q "\"podName\":\"web\"" && fail "web's endpoint survived podman rm"
run web sleep 600
grep -q '"ip":"'"$web_ip"'"' <(api /v1/endpoints) ||
  echo "note: web's address $web_ip was not reused (allocator order), checking the pool"
api /status | grep -q '"allocated":3' || fail "IPAM does not hold exactly 3 addresses: $(api /status)"
echo "stop releases the address: $(api /status | grep -o '"ipam":{[^}]*}')"
failed=0
echo "cni.podman: PASS"
