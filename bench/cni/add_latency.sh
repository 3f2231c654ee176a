#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CNI ADD latency: membrane-cni against the reference bridge + host-local plugins, N pods
# each, measured in the same run (docs/cni.md, "Performance").
#
# Usage: add_latency.sh MEMBRANE_CNI N [AGENT]
#   AGENT: a membrane-agent binary (real endpoints: veths, addresses, programs), or
#          cni_fake_agent (the in-memory fake of tests/cni: the plugin's own cost only).
# Every pod is a network namespace of ours (prefix mcb<pid>-); the bridge plugin runs under
# nsenter in a host namespace of ours (it creates its bridge in the caller's namespace), and
# so does membrane-cni, so both pay the same exec/nsenter cost. Exit 77 when not root.
set -euo pipefail
cni=$(readlink -f "$1"); n=${2:-100}; agent=${3:-}
. "$(dirname "$0")/../../tests/support/privileged.sh"
[ "$(id -u)" -eq 0 ] || require_or_skip "add_latency: needs root"
[ -x /usr/lib/cni/bridge ] || require_or_skip "add_latency: /usr/lib/cni/bridge missing"

p="mcb$$"
tmp=$(mktemp -d /tmp/membrane-cni-bench.XXXXXX)
agent_pid=""
uninstall=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  [ -n "$uninstall" ] && nsenter --net="/run/netns/$p-node" "$uninstall" --uninstall \
    --config "$tmp/agent.yaml" > /dev/null 2>&1 || true
  mountpoint -q "$tmp/bpffs" 2>/dev/null && umount "$tmp/bpffs"
  for ns in $(ip netns list | awk '{print $1}' | grep "^$p-" || true); do ip netns del "$ns"; done
  rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$p-host"
ip -n "$p-host" link set lo up
for i in $(seq 1 "$n"); do ip netns add "$p-b$i"; ip netns add "$p-m$i"; done

sock="$tmp/agent.sock"
case "$(basename "${agent:-none}")" in
  cni_fake_agent)
    "$agent" "$sock" > "$tmp/agent.out" 2>&1 & agent_pid=$!
    label="membrane-cni (fake agent: plugin cost only)" ;;
  membrane-agent)
    # The real agent in a node namespace of ours with an uplink to a peer namespace, its own
    # bpffs mount, state and socket in $tmp: it creates real veths, addresses, programs.
    ip netns add "$p-node"; ip netns add "$p-peer"
    ip link add "$p-up" netns "$p-node" type veth peer name "$p-dn" netns "$p-peer"
    ip -n "$p-node" addr add 192.168.78.1/24 dev "$p-up"; ip -n "$p-node" link set "$p-up" up
    ip -n "$p-node" link set lo up
    mkdir -p "$tmp/bpffs" "$tmp/manifests"
    mount -t bpf bpf "$tmp/bpffs"
    cat > "$tmp/agent.yaml" <<YAML
nodeName: node-1
nodeIP: 192.168.78.1
podCIDR: 10.78.0.0/20
uplink: $p-up
stateDir: $tmp/state
bpffsDir: $tmp/bpffs/membrane
socket: $sock
manifests: $tmp/manifests
YAML
    nsenter --net="/run/netns/$p-node" "$agent" --config "$tmp/agent.yaml" > "$tmp/agent.out" 2>&1 &
    agent_pid=$!
    uninstall="$agent"
    label="membrane-cni + membrane-agent (real endpoints)" ;;
  none) echo "add_latency: give an agent binary (membrane-agent or cni_fake_agent)"; exit 2 ;;
  *) echo "add_latency: unknown agent $agent (membrane-agent or cni_fake_agent)" >&2; exit 2 ;;
esac
for _ in $(seq 1 500); do [ -S "$sock" ] && break; sleep 0.01; done
[ -S "$sock" ] || { echo "add_latency: agent socket $sock never appeared"; exit 1; }
healthy=0
for _ in $(seq 1 500); do
  curl -sf --unix-socket "$sock" http://agent/healthz > /dev/null 2>&1 && { healthy=1; break; }
  sleep 0.01
done
[ "$healthy" = 1 ] || { echo "add_latency: agent not healthy"; cat "$tmp/agent.out"; exit 1; }

cat > "$tmp/bridge.conf" <<JSON
{"cniVersion": "1.0.0", "name": "bench", "type": "bridge", "bridge": "${p}br0",
 "isGateway": true,
 "ipam": {"type": "host-local", "dataDir": "$tmp/ipam",
          "ranges": [[{"subnet": "10.250.0.0/16"}]]}}
JSON
cat > "$tmp/membrane.conf" <<JSON
{"cniVersion": "1.0.0", "name": "bench", "type": "membrane-cni",
 "agentSocket": "$sock", "delQueueDir": "$tmp/del-queue", "logFile": "$tmp/cni.log"}
JSON

# add PLUGIN CONF NSPREFIX OUTFILE: N ADDs, microseconds each (bash's EPOCHREALTIME: no fork).
add() {
  local plugin=$1 conf=$2 pfx=$3 out=$4 i t0 t1
  : > "$out"
  for i in $(seq 1 "$n"); do
    t0=$EPOCHREALTIME
    CNI_COMMAND=ADD CNI_CONTAINERID="$p-$pfx$i" CNI_NETNS="/run/netns/$p-$pfx$i" \
      CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAME=pod$i" \
      nsenter --net="/run/netns/$p-host" "$plugin" < "$conf" > "$tmp/last.json" \
      || { echo "add_latency: $plugin ADD $i failed:"; cat "$tmp/last.json"; exit 1; }
    t1=$EPOCHREALTIME
    echo $(( (${t1/./} - ${t0/./}) )) >> "$out"
  done
}

pct() {  # pct FILE P -> the P-th percentile in ms (nearest rank)
  sort -n "$1" | awk -v p="$2" '{a[NR]=$1} END {i=int((p*NR+99)/100); if (i<1) i=1;
    printf "%.2f", a[i]/1000}'
}

add /usr/lib/cni/bridge "$tmp/bridge.conf" b "$tmp/bridge.us"
add "$cni" "$tmp/membrane.conf" m "$tmp/membrane.us"

b50=$(pct "$tmp/bridge.us" 50); b99=$(pct "$tmp/bridge.us" 99)
m50=$(pct "$tmp/membrane.us" 50); m99=$(pct "$tmp/membrane.us" 99)
echo "CNI ADD latency, $n pods each, same run ($(nproc) cores)"
printf '  %-48s p50 %7s ms  p99 %7s ms\n' "bridge + host-local (reference)" "$b50" "$b99"
printf '  %-48s p50 %7s ms  p99 %7s ms\n' "$label" "$m50" "$m99"
awk -v a="$m50" -v b="$b50" 'BEGIN {printf "  ratio membrane/bridge at p50: %.2f\n", a/b}'
