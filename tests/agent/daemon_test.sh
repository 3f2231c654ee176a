#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The real membrane-agent process in a node namespace of its own (nsenter --net), with its
# own bpffs mount, state directory and socket; pods are namespaces wired through the API.
# Usage: daemon_test.sh AGENT_BINARY MODE [MEMBRANE_CLI]
#   (MODE: basic | restart | crash | uninstall)
#   basic      endpoints through the API, allowed/denied traffic, 4xx errors, a change of
#              the watched directory applied
#   restart    SIGTERM then start: same ifindexes, the same pinned maps (not reset), an
#              established TCP stream survives, nothing re-created
#   crash      kill -9 while a stream runs: no byte lost, new allowed connections succeed
#              and denied ones stay denied during the outage, healthy again after start, a
#              policy change made while it was down is applied on start
#   uninstall  --uninstall leaves nothing behind
#   twonode-overlay, twonode-native
#              two nodes, an agent each, pods on both: the VXLAN tunnel (or the routes to
#              the other node's pod CIDR) carries allowed traffic; denied stays denied
#   twonode-service
#              the overlay pair plus a second web pod on node-1 and a ClusterIP Service
#              written while the agents run: repeated TCP connections (busybox nc) from the
#              client to VIP:80 are answered by both backends (one per node); the stray pod
#              still cannot reach them through the VIP
#   twonode-socketlb
#              twonode-service with socket-level LB on node-1 (--socket-lb-cgroup), the
#              client in that cgroup: translated at connect (ss shows the backend,
#              getpeername the VIP); killing the agent removes the hooks, the Service still
#              answers through the per-packet DNAT
# Waits poll conditions (health, a probe's result), never fixed sleeps. Cleans up by PID
# and by this run's unique names, also on failure. Exit 77 = skipped (not root).
# No pipefail: `cmd | grep -q` would fail when grep exits at the first match (SIGPIPE).
set -u
AGENT=$(readlink -f "$1")
MODE=$2
CLI=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
TRAFFIC="python3 $HERE/traffic.py"
. "$HERE/../support/privileged.sh"
require_root "the agent daemon tests need root"

P="mbad$$"            # netns names of this run
EXTRA_NODE1_ARGS=()   # twonode-socketlb: --socket-lb-cgroup
T=$(mktemp -d /tmp/membrane-agent-daemon-XXXXXX)
NODE=${P}n
AGENT_PID=""
PIDS=()

cleanup() {
  [ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  for ns in n n2 p1 p2 p3 p4; do ip netns del "${P}$ns" 2>/dev/null; done
  for m in "$T/bpf" "$T/bpf2"; do mountpoint -q "$m" && umount "$m"; done
  [ -n "${CG:-}" ] && rmdir "$CG" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; echo "--- agent log"; cat "$T/agent.log" 2>/dev/null; exit 1; }
ok() { echo "ok: $*"; }

# until SECONDS CMD...: polls CMD every 50 ms until it succeeds or SECONDS pass.
until_ok() {
  local deadline=$(($(date +%s%N) + $1 * 1000000000)); shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$(date +%s%N)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

SOCK=$T/agent.sock
api() { curl -s --max-time 10 --unix-socket "$SOCK" "$@"; }
api_code() { curl -s -o "$T/body" -w '%{http_code}' --max-time 10 --unix-socket "$SOCK" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
healthy() { [ "$(api_code http://x/healthz)" = 200 ]; }
probe() { ip netns exec "${P}$1" $TRAFFIC probe "$2" 8080 "${3:-1}"; }
denied() { ! probe "$@"; }

ARGS=(--node-name node-1 --node-ip 192.168.99.2 --pod-cidr 10.99.1.0/24 --routing overlay
      --state-dir "$T/state" --bpffs-dir "$T/bpf/membrane" --socket "$T/agent.sock"
      --manifests "$T/man" --max-endpoints 64 --ct-entries 4096 --ipcache-entries 1024
      --policy-entries 256)

start_agent() {
  nsenter --net=/run/netns/$NODE "$AGENT" "${ARGS[@]}" >>"$T/agent.log" 2>&1 &
  AGENT_PID=$!
  until_ok 20 healthy || fail "agent not healthy after start"
}

stop_agent() {  # $1: TERM or KILL
  kill -"$1" "$AGENT_PID"
  wait "$AGENT_PID" 2>/dev/null
  AGENT_PID=""
}

write_policy() {  # $1: extra allowed peer labels (YAML flow map) or empty
  local extra=""
  [ -n "$1" ] && extra="
    - podSelector: {matchLabels: $1}"
  cat >"$T/man/policy.yaml.new" <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: default, name: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}$extra
    ports: [{port: 8080, protocol: TCP}]
YAML
  mv "$T/man/policy.yaml.new" "$T/man/policy.yaml"  # atomic, like a deploy tool
}

setup() {
  for ns in n p1 p2 p3; do ip netns add "${P}$ns" || fail "netns add"; done
  ip -n $NODE link set lo up
  # The node's uplink: a veth inside the node namespace (no route to the host).
  ip -n $NODE link add uplink type veth peer name uplink-peer
  ip -n $NODE addr add 192.168.99.2/32 dev uplink
  ip -n $NODE link set uplink up
  ip netns exec $NODE sysctl -qw net.ipv4.ip_forward=1
  mkdir -p "$T/bpf" "$T/man"
  mount -t bpf bpf "$T/bpf" || fail "mount bpffs"
  cat >"$T/man/pods.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: web, labels: {app: web}}
spec: {nodeName: node-1}
---
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: client, labels: {app: client}}
spec: {nodeName: node-1}
YAML
  write_policy ""
  start_agent
  ok "agent healthy"
  # web (Pod object), client (Pod object), stray (no Pod object: the default labels).
  local n=0
  for spec in "p1 web" "p2 client" "p3 -"; do
    set -- $spec
    n=$((n + 1))
    local pod=""
    [ "$2" != - ] && pod=",\"podNamespace\":\"default\",\"podName\":\"$2\""
    code=$(api_code -X PUT "http://x/v1/endpoints/ctr$n" \
      -d "{\"ifname\":\"eth0\",\"netns\":\"/run/netns/${P}$1\"$pod}")
    [ "$code" = 201 ] || fail "PUT ctr$n: $code $(cat "$T/body")"
    eval "IP_$1=$(json 'd["endpoint"]["ip"]' <"$T/body")"
  done
  ok "3 endpoints created: web $IP_p1, client $IP_p2, stray $IP_p3"
  ip netns exec ${P}p1 $TRAFFIC serve 8080 >"$T/server.log" 2>&1 &
  PIDS+=($!)
  until_ok 10 grep -q listening "$T/server.log" || fail "server did not start"
}

ifindexes() { ip -n $NODE -o link show | awk -F': ' '/lxc/ {print $1, $2}' | sed 's/@.*//' | sort; }
conntrack_used() { [ "$(api http://x/status | json 'd["maps"]["conntrack"]')" -gt 0 ]; }
map_id() { bpftool -j map show pinned "$T/bpf/membrane/maps/$1" | json 'd["id"]'; }

mode_basic() {
  probe p2 "$IP_p1" || fail "client -> web:8080 should be allowed"
  denied p3 "$IP_p1" || fail "stray -> web:8080 should be denied"
  ok "policy enforced: client allowed, stray denied"
  api http://x/v1/endpoints/ctr1/check | grep -q '"ok":true' || fail "check ctr1"
  local pid
  pid=$(bpftool -j prog show pinned "$T/bpf/membrane/progs/from_container" | json 'd["id"]') ||
    fail "from_container not pinned"
  ip netns exec $NODE tc filter show dev "$(ip -n $NODE -o link | awk -F': ' '/lxc/ {print $2; exit}' | sed 's/@.*//')" ingress |
    grep -q "id $pid " || fail "the pinned program is not the attached one"
  [ "$(api_code -X PUT http://x/v1/endpoints/bad -d '{not json')" = 400 ] || fail "bad JSON not 400"
  grep -q '"code":"invalid"' "$T/body" || fail "400 without error code: $(cat "$T/body")"
  [ "$(api_code -X PUT http://x/v1/endpoints/x -d '{"ifname":"eth0","netns":"/nope"}')" = 400 ] ||
    fail "missing netns not 400"
  grep -q 'netns' "$T/body" || fail "error does not name the field"
  [ "$(api_code http://x/v1/endpoints/nope)" = 404 ] || fail "unknown endpoint not 404"
  [ "$(api_code -X DELETE http://x/v1/endpoints/nope)" = 404 ] || fail "DELETE unknown not 404"
  [ "$(api_code -X PUT http://x/v1/endpoints/ctr1 \
      -d "{\"ifname\":\"eth0\",\"netns\":\"/run/netns/${P}p2\"}")" = 409 ] || fail "conflict not 409"
  [ "$(api_code -X PUT http://x/v1/endpoints/ctr1 -d "{\"ifname\":\"eth0\",\"netns\":\"/run/netns/${P}p1\",\"podNamespace\":\"default\",\"podName\":\"web\"}")" = 200 ] ||
    fail "repeated PUT not 200"
  ok "API errors: 400 invalid (field named), 404, 409, idempotent 200"
  if [ -n "$CLI" ]; then
    "$CLI" status --socket "$T/agent.sock" | grep -q "endpoints:     3" || fail "membrane status"
    "$CLI" endpoint list --socket "$T/agent.sock" | grep -q "default/web" || fail "endpoint list"
    "$CLI" endpoint get ctr2 --socket="$T/agent.sock" | grep -q '"app": "client"' ||
      fail "endpoint get"
    "$CLI" endpoint get nope --socket "$T/agent.sock" 2>"$T/err" && fail "get unknown: exit 0"
    grep -q "404" "$T/err" || fail "get unknown: $(cat "$T/err")"
    ok "membrane status / endpoint list|get"
  fi
  write_policy '{membrane.io/unmanaged-pod: "true"}'
  until_ok 10 probe p3 "$IP_p1" || fail "directory change (allow stray) not applied"
  write_policy ""
  until_ok 10 denied p3 "$IP_p1" || fail "directory change (deny stray again) not applied"
  ok "watched directory: changes applied both ways"
  [ "$(api_code -X DELETE http://x/v1/endpoints/ctr3?ifname=eth0)" = 200 ] || fail "DELETE ctr3"
  ip -n $NODE link show | grep -q "$(printf 'lxc%02x%02x%02x%02x' ${IP_p3//./ })" &&
    fail "DELETE left the host veth"
  [ "$(api http://x/status | json 'd["ipam"]["allocated"]')" = 2 ] || fail "address not released"
  ok "DELETE removed the veth and released the address"
}

mode_restart() {
  local before ids_before
  before=$(ifindexes)
  ids_before="$(map_id membrane_ipcache) $(map_id membrane_ct4) $(map_id membrane_policy)"
  ip netns exec ${P}p2 $TRAFFIC stream "$IP_p1" 8080 4 "$T/stream" &
  local stream=$!
  until_ok 10 conntrack_used || fail "no conntrack entry for the stream"
  stop_agent TERM
  [ "$(ifindexes)" = "$before" ] || fail "SIGTERM removed or changed interfaces"
  probe p2 "$IP_p1" || fail "allowed connection failed while the agent was stopped"
  denied p3 "$IP_p1" || fail "denied connection succeeded while the agent was stopped"
  start_agent
  [ "$(ifindexes)" = "$before" ] || fail "restart re-created interfaces: $(ifindexes)"
  local ids_after="$(map_id membrane_ipcache) $(map_id membrane_ct4) $(map_id membrane_policy)"
  [ "$ids_after" = "$ids_before" ] || fail "maps replaced: $ids_before -> $ids_after"
  api http://x/v1/endpoints/ctr1/check | grep -q '"ok":true' || fail "check after restart"
  grep -q '"policyRevision":0' <(api http://x/status) || fail "restart changed the maps"
  wait $stream || fail "stream across restart: $(cat "$T/stream")"
  ok "restart: same ifindexes, same pinned maps, nothing rewritten, $(cat "$T/stream")"
}

mode_crash() {
  ip netns exec ${P}p2 $TRAFFIC stream "$IP_p1" 8080 5 "$T/stream" &
  local stream=$!
  stop_agent KILL
  local i
  for i in 1 2 3; do
    probe p2 "$IP_p1" || fail "new allowed connection $i failed during the outage"
    denied p3 "$IP_p1" || fail "denied connection $i succeeded during the outage"
  done
  write_policy '{membrane.io/unmanaged-pod: "true"}'  # changed while the agent is down
  denied p3 "$IP_p1" || fail "a policy change applied without an agent?"
  start_agent
  probe p3 "$IP_p1" || fail "policy change made while down not applied on start"
  probe p2 "$IP_p1" || fail "allowed connection failed after restart"
  wait $stream || fail "stream across kill -9: $(cat "$T/stream")"
  ok "kill -9: allowed kept working, denied stayed denied, change applied on start, $(cat "$T/stream")"
}

mode_uninstall() {
  stop_agent TERM
  nsenter --net=/run/netns/$NODE "$AGENT" --uninstall "${ARGS[@]}" >>"$T/agent.log" 2>&1 ||
    fail "--uninstall failed"
  ip -n $NODE -o link show | grep -Eq 'lxc|membrane_vxlan' && fail "links left: $(ip -n $NODE -o link)"
  [ -e "$T/bpf/membrane" ] && fail "pins left: $(ls -R "$T/bpf/membrane")"
  [ -e "$T/state" ] && fail "state left: $(ls "$T/state")"
  [ -e "$T/agent.sock" ] && fail "socket left"
  ip -n $NODE route | grep -q 10.99 && fail "routes left: $(ip -n $NODE route)"
  ip -n ${P}p1 -o link show | grep -q eth0 && fail "pod interface left"
  ok "--uninstall left nothing behind"
}

# Two nodes joined by a veth pair (their uplinks), one agent each with its own bpffs,
# state and socket, one shared watched directory. web runs on node-2; client and stray on
# node-1. Remote pods are known from their Pod objects (status.podIP), nodes from Node objects.
mode_twonode() {  # $1: overlay | native, $2: service (optional)
  local mode=$1 service=${2:-} N1=${P}n N2=${P}n2
  for ns in n n2 p1 p2 p3 p4; do ip netns add "${P}$ns" || fail "netns add"; done
  ip -n $N1 link add uplink type veth peer name uplink netns $N2
  local ns ip other
  for spec in "$N1 192.168.99.2 192.168.99.3" "$N2 192.168.99.3 192.168.99.2"; do
    set -- $spec
    ip -n $1 link set lo up
    ip -n $1 addr add $2/32 dev uplink
    ip -n $1 link set uplink up
    ip -n $1 route add $3/32 dev uplink
    ip netns exec $1 sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0
  done
  mkdir -p "$T/bpf" "$T/bpf2" "$T/man"
  mount -t bpf bpf "$T/bpf" && mount -t bpf bpf "$T/bpf2" || fail "mount bpffs"
  cat >"$T/man/cluster.yaml" <<YAML
apiVersion: v1
kind: Node
metadata: {name: node-1}
spec: {podCIDR: 10.99.1.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.99.2}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-2}
spec: {podCIDR: 10.99.2.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.99.3}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: web, labels: {app: web}}
spec: {nodeName: node-2}
status: {podIP: 10.99.2.10}
---
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: client, labels: {app: client}}
spec: {nodeName: node-1}
status: {podIP: 10.99.1.10}
---
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: stray, labels: {app: stray}}
spec: {nodeName: node-1}
status: {podIP: 10.99.1.11}
---
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: web2, labels: {app: web}}
spec: {nodeName: node-1}
status: {podIP: 10.99.1.12}
YAML
  write_policy ""
  local common=(--routing "$mode" --manifests "$T/man" --max-endpoints 64 --ct-entries 4096
                --ipcache-entries 1024 --policy-entries 256)
  ARGS=(--node-name node-1 --node-ip 192.168.99.2 --pod-cidr 10.99.1.0/24 --state-dir "$T/state"
        --bpffs-dir "$T/bpf/membrane" --socket "$T/agent.sock" "${common[@]}"
        "${EXTRA_NODE1_ARGS[@]}")
  NODE=$N1
  start_agent
  local first=$AGENT_PID
  PIDS+=($first)
  ARGS=(--node-name node-2 --node-ip 192.168.99.3 --pod-cidr 10.99.2.0/24 --state-dir "$T/state2"
        --bpffs-dir "$T/bpf2/membrane" --socket "$T/agent2.sock" "${common[@]}")
  NODE=$N2
  SOCK=$T/agent2.sock
  start_agent
  local n=0 spec
  for spec in "agent2.sock p1 web 10.99.2.10" "agent.sock p2 client 10.99.1.10" \
              "agent.sock p3 stray 10.99.1.11" "agent.sock p4 web2 10.99.1.12"; do
    set -- $spec
    n=$((n + 1))
    code=$(curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$T/$1" -X PUT       "http://x/v1/endpoints/ctr$n"       -d "{\"ifname\":\"eth0\",\"netns\":\"/run/netns/${P}$2\",\"podNamespace\":\"default\",\"podName\":\"$3\"}")
    [ "$code" = 201 ] || fail "PUT ctr$n: $code $(cat "$T/body")"
    grep -q "\"ip\":\"$4\"" "$T/body" || fail "ctr$n did not get its Pod's address $4: $(cat "$T/body")"
  done
  ip netns exec ${P}p1 $TRAFFIC serve 8080 >"$T/server.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=($SERVER_PID)
  until_ok 10 grep -q listening "$T/server.log" || fail "server did not start"
  until_ok 10 probe p2 10.99.2.10 || fail "client (node-1) -> web (node-2) should be allowed ($mode)"
  denied p3 10.99.2.10 || fail "stray (node-1) -> web (node-2) should be denied ($mode)"
  if [ "$mode" = overlay ]; then
    ip -n $N1 -o link show membrane_vxlan >/dev/null || fail "no VXLAN device"
  else
    ip -n $N1 route | grep -q "10.99.2.0/24 via 192.168.99.3 dev uplink" ||
      fail "no route to node-2's pod CIDR: $(ip -n $N1 route)"
  fi
  ok "two nodes ($mode): client -> web allowed across nodes, stray -> web denied"
  [ "$service" = service ] && twonode_service
}

ask() { ip netns exec "${P}$1" busybox nc -w 2 "$2" "$3" </dev/null 2>/dev/null; }

# A ClusterIP Service over web (node-2) and web2 (node-1), written while both agents run.
twonode_service() {
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null  # port 8080 for the named servers
  ip netns exec ${P}p1 busybox nc -ll -p 8080 -e /bin/echo web-on-node-2 &
  PIDS+=($!)
  ip netns exec ${P}p4 busybox nc -ll -p 8080 -e /bin/echo web2-on-node-1 &
  PIDS+=($!)
  until_ok 10 ask p2 10.99.2.10 8080 || fail "web (node-2) does not answer directly"
  until_ok 10 ask p2 10.99.1.12 8080 || fail "web2 (node-1) does not answer directly"
  cat >"$T/man/service.yaml.new" <<YAML
apiVersion: v1
kind: Service
metadata: {namespace: default, name: web}
spec:
  selector: {app: web}
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]
YAML
  mv "$T/man/service.yaml.new" "$T/man/service.yaml"
  until_ok 20 ask p2 10.96.0.10 80 || fail "client -> 10.96.0.10:80 not answered after the Service was written"
  local i reply n1=0 n2=0
  for i in $(seq 1 24); do
    reply=$(ask p2 10.96.0.10 80)
    case "$reply" in
      web-on-node-2) n2=$((n2 + 1)) ;;
      web2-on-node-1) n1=$((n1 + 1)) ;;
      *) fail "connection $i to 10.96.0.10:80: unexpected reply '$reply'" ;;
    esac
  done
  [ $n1 -gt 0 ] && [ $n2 -gt 0 ] || fail "24 connections: node-1 backend $n1, node-2 backend $n2 (expected both)"
  [ -z "$(ask p3 10.96.0.10 80)" ] || fail "stray reached a backend through the VIP"
  ok "service 10.96.0.10:80 -> both backends over 24 connections (node-1: $n1, node-2: $n2); stray denied"
}

# socket-level load balancing on node-1 (--socket-lb-cgroup): the client's connection to the
# VIP is translated at connect, so the kernel socket (ss, which no hook rewrites) is
# connected to a backend while getpeername shows the VIP; the agent's cgroup hooks are
# attached while it runs and gone when it is killed; Services keep working without them.
CG=""
socket_lb_setup() {
  local root
  root=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
  [ -n "$root" ] || fail "no cgroup v2 hierarchy mounted"
  CG=$root/membrane-$P
  mkdir "$CG" || fail "mkdir $CG"
  EXTRA_NODE1_ARGS=(--socket-lb-cgroup "$CG")
}
cg_ask() {  # in the test cgroup and the pod's netns: "peer=<getpeername> kernel=<ss peers>"
  sh -c 'echo $$ >"$1/cgroup.procs" && exec ip netns exec "$2" python3 -c "$3" "$4" "$5"' _ \
    "$CG" "${P}$1" 'import socket, subprocess, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
reply = s.recv(100).decode().strip()
ss = subprocess.run(["ss", "-tnH"], capture_output=True, text=True).stdout.split()
print("reply=%s peer=%s:%d kernel=%s" % (reply, *s.getpeername(), ",".join(ss)))' "$2" "$3"
}
twonode_socket_lb() {
  local out
  out=$(cg_ask p2 10.96.0.10 80) || fail "client in the cgroup -> 10.96.0.10:80 failed"
  case "$out" in
    *"peer=10.96.0.10:80 "*) ;;
    *) fail "getpeername does not show the VIP: $out" ;;
  esac
  case "$out" in
    *10.99.2.10:8080*|*10.99.1.12:8080*) ;;
    *) fail "the kernel socket is not connected to a backend (not translated at connect): $out" ;;
  esac
  bpftool cgroup show "$CG" | grep -q connect4 || fail "no connect4 hook on $CG: $(bpftool cgroup show "$CG")"
  ok "socket LB: $out"
  kill -9 "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null
  until_ok 10 sh -c "! bpftool cgroup show '$CG' | grep -q connect4" || fail "hooks left on $CG after the agent died"
  out=$(cg_ask p2 10.96.0.10 80) || fail "no service without the socket LB (per-packet DNAT)"
  case "$out" in
    *"kernel="*10.96.0.10:80*) ;;
    *) fail "without the hooks the kernel socket should be connected to the VIP: $out" ;;
  esac
  ok "agent killed: hooks gone, the Service still answers through the per-packet DNAT"
}

case "$MODE" in
  twonode-socketlb) socket_lb_setup; mode_twonode overlay service; twonode_socket_lb; echo PASS; exit 0 ;;
  twonode-overlay) mode_twonode overlay; echo PASS; exit 0 ;;
  twonode-native) mode_twonode native; echo PASS; exit 0 ;;
  twonode-service) mode_twonode overlay service; echo PASS; exit 0 ;;
esac
setup
case "$MODE" in
  basic) mode_basic ;;
  restart) mode_restart ;;
  crash) mode_crash ;;
  uninstall) mode_uninstall ;;
  *) fail "unknown mode $MODE" ;;
esac
echo PASS
