#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Two real membrane-agent processes on the cluster store (desiredState etcd) with a real etcd:
# two node namespaces joined by a veth pair (their uplinks), etcd inside node-1's namespace
# on its uplink address (so both nodes reach it and nothing reaches the host), pods as
# namespaces wired through the agents' API, traffic by traffic.py.
# Usage: store_test.sh AGENT_BINARY MEMBRANE_CLI [twonode | threemember]
# twonode (default):
#   1. objects go in with `membrane apply` only (no Node objects, no pod addresses): nodes,
#      pod addresses and identities come from what the agents publish; client (node-1) ->
#      web (node-2) allowed, stray -> web denied; a policy change applied through etcd is
#      in force on both nodes (desiredState.revision reaches apply's revision);
#      `membrane observe --etcd-endpoints` reads the nodes the store lists.
#   2. etcd killed: verdicts unchanged during the outage, both agents report the store
#      unreachable; etcd restarted: reachable again, identities unchanged.
#   3. node-2's agent killed -9 and restarted within the TTL: the same lease, nothing
#      changes on node-1 (policyRevision, identities), traffic flows throughout.
#   1b. identity GC (agents run with a 2 s grace): the label set stray was relabelled away
#      from, referenced by no node any more, is deleted from etcd after the grace period;
#      the identities still in use (client, web, stray's new one) survive 3 more GC passes
#      of both agents (more than the grace period), with the same numbers.
#   4. node-2's agent killed -9 for good: node-2 and its endpoint leave node-1 after the TTL.
# threemember: a 3-member etcd; the member the agents use first is killed: traffic and
#   identities unchanged, no reconcile fails, a policy change written through the remaining
#   members is in force on both nodes.
# Waits poll conditions, never fixed sleeps. Cleans up by PID and by this run's unique names,
# also on failure. Exit 77 = skipped (not root, or no etcd).
set -u
AGENT=$(readlink -f "$1")
CLI=$(readlink -f "$2")
MODE=${3:-twonode}
HERE=$(cd "$(dirname "$0")" && pwd)
TRAFFIC="python3 $HERE/traffic.py"
. "$HERE/../support/privileged.sh"
require_root "the agent store tests need root"
command -v etcd >/dev/null || require_or_skip "etcd (Debian etcd-server) is not installed"

P="mbks$$"
T=$(mktemp -d /tmp/membrane-agent-store-XXXXXX)
N1=${P}n
N2=${P}n2
A1="" A2="" ETCD=""
PIDS=()
ETCDS=()
TTL=5
GC_GRACE=2
EP=http://192.168.99.2:2379

cleanup() {
  for p in $A1 $A2 $ETCD "${PIDS[@]}" "${ETCDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  for ns in n n2 p1 p2 p3 p4; do ip netns del "${P}$ns" 2>/dev/null; done
  for m in "$T/bpf" "$T/bpf2"; do mountpoint -q "$m" && umount "$m"; done
  rm -rf "$T"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  for f in agent1 agent2 etcd; do echo "--- $f log (tail)"; tail -40 "$T/$f.log" 2>/dev/null; done
  exit 1
}
ok() { echo "ok: $*"; }

until_ok() {  # SECONDS CMD...: polls CMD every 50 ms
  local deadline=$(($(date +%s%N) + $1 * 1000000000)); shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$(date +%s%N)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

api() { curl -s --max-time 10 --unix-socket "$T/agent$1.sock" "${@:2}"; }
status() { api "$1" http://x/status; }  # $1: 1 | 2
field() { status "$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"; }
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T/agent$1.sock" http://x/healthz)" = 200 ]; }
probe() { ip netns exec "${P}$1" $TRAFFIC probe "$2" 8080 "${3:-1}"; }
denied() { ! probe "$@"; }
in_n1() { nsenter --net=/run/netns/$N1 "$@"; }
kv() { in_n1 "$CLI" "$@" --etcd-endpoints $EP --etcd-prefix "$P/"; }
# The endpoints' identities as "address=identity ..." (sorted).
identities() {
  api "$1" http://x/v1/endpoints | python3 -c "
import json,sys
d=json.load(sys.stdin); eps=d['endpoints'] if isinstance(d,dict) else d
print(' '.join(sorted(e['ip']+'='+str(e['identity']) for e in eps)))"
}

start_etcd() {
  nsenter --net=/run/netns/$N1 etcd --name m0 --data-dir "$T/etcd" --listen-client-urls $EP --advertise-client-urls $EP \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster m0=http://127.0.0.1:2380 >>"$T/etcd.log" 2>&1 &
  ETCD=$!
  until_ok 20 in_n1 etcdctl --endpoints $EP endpoint health || fail "etcd not healthy"
}

start_agent() {  # $1: 1 | 2
  local ns=$N1 ip=192.168.99.2 cidr=10.99.1.0/24 bpf=$T/bpf obs=()
  # node-2 serves its Observer on its node IP (published in the store); node-1 only on its
  # unix socket (published as none).
  [ "$1" = 2 ] && ns=$N2 ip=192.168.99.3 cidr=10.99.2.0/24 bpf=$T/bpf2 obs=(--observer-listen 192.168.99.3:4245)
  nsenter --net=/run/netns/$ns "$AGENT" --node-name node-$1 --node-ip $ip --pod-cidr $cidr \
    --routing overlay --state-dir "$T/state$1" --bpffs-dir "$bpf/membrane" \
    --socket "$T/agent$1.sock" --desired-state etcd --etcd-endpoints $EP --etcd-prefix "$P/" \
    --etcd-lease-ttl $TTL --etcd-identity-gc-grace $GC_GRACE --max-endpoints 64 --ct-entries 4096 --ipcache-entries 1024 \
    --policy-entries 256 --observer-socket "$T/hubble$1.sock" "${obs[@]}" >>"$T/agent$1.log" 2>&1 &
  eval "A$1=$!"
  until_ok 20 healthy "$1" || fail "agent $1 not healthy"
}

write_policy() {  # $1: extra allowed peer labels (YAML flow map) or empty
  local extra=""
  [ -n "$1" ] && extra="
    - podSelector: {matchLabels: $1}"
  cat >"$T/policy.yaml" <<YAML
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
}

# apply FILE: membrane apply, then wait until both agents applied that revision.
apply() {
  local out rev
  out=$(kv apply -f "$1") || fail "membrane apply $1: $out"
  rev=$(echo "$out" | sed -n 's/^revision //p')
  until_ok 10 sh -c "[ \$(curl -s --unix-socket $T/agent1.sock http://x/status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"desiredState\"][\"revision\"])') -ge $rev ]" ||
    fail "node-1 did not apply revision $rev"
  until_ok 10 sh -c "[ \$(curl -s --unix-socket $T/agent2.sock http://x/status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"desiredState\"][\"revision\"])') -ge $rev ]" ||
    fail "node-2 did not apply revision $rev"
}

setup() {
  for ns in n n2 p1 p2 p3 p4; do ip netns add "${P}$ns" || fail "netns add"; done
  ip -n $N1 link add uplink type veth peer name uplink netns $N2
  for spec in "$N1 192.168.99.2 192.168.99.3" "$N2 192.168.99.3 192.168.99.2"; do
    set -- $spec
    ip -n $1 link set lo up
    ip -n $1 addr add $2/32 dev uplink
    ip -n $1 link set uplink up
    ip -n $1 route add $3/32 dev uplink
    ip netns exec $1 sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0
  done
  mkdir -p "$T/bpf" "$T/bpf2"
  mount -t bpf bpf "$T/bpf" && mount -t bpf bpf "$T/bpf2" || fail "mount bpffs"
  cat >"$T/pods.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: web, labels: {app: web}}
spec: {nodeName: node-2}
---
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: client, labels: {app: client}}
spec: {nodeName: node-1}
---
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: stray, labels: {app: stray}}
spec: {nodeName: node-1}
YAML
}

wire_pods() {
  local n=0 spec
  for spec in "2 p1 web" "1 p2 client" "1 p3 stray"; do
    set -- $spec
    n=$((n + 1))
    code=$(curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$T/agent$1.sock" -X PUT \
      "http://x/v1/endpoints/ctr$n" \
      -d "{\"ifname\":\"eth0\",\"netns\":\"/run/netns/${P}$2\",\"podNamespace\":\"default\",\"podName\":\"$3\"}")
    [ "$code" = 201 ] || fail "PUT ctr$n: $code $(cat "$T/body")"
  done
  WEB=$(ip -n ${P}p1 -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
  [ -n "$WEB" ] || fail "web has no address"
}

# Three members in node-1's namespace: clients on :2379, :12379, :22379 of its uplink address.
start_etcd3() {
  local cluster=m0=http://127.0.0.1:2380,m1=http://127.0.0.1:2381,m2=http://127.0.0.1:2382 i
  EP=http://192.168.99.2:2379,http://192.168.99.2:12379,http://192.168.99.2:22379
  for i in 0 1 2; do
    local c=http://192.168.99.2:$((2379 + i * 10000))
    nsenter --net=/run/netns/$N1 etcd --name m$i --data-dir "$T/etcd$i" --listen-client-urls $c \
      --advertise-client-urls $c --listen-peer-urls http://127.0.0.1:$((2380 + i)) \
      --initial-advertise-peer-urls http://127.0.0.1:$((2380 + i)) --initial-cluster $cluster \
      --initial-cluster-state new >>"$T/etcd.log" 2>&1 &
    ETCDS+=($!)
  done
  until_ok 30 in_n1 etcdctl --endpoints $EP endpoint health || fail "etcd cluster not healthy"
}

if [ "$MODE" = threemember ]; then
  setup
  start_etcd3
  write_policy ""
  cat "$T/pods.yaml" >"$T/all.yaml"
  echo --- >>"$T/all.yaml"
  cat "$T/policy.yaml" >>"$T/all.yaml"
  out=$(kv apply -f "$T/all.yaml") || fail "apply: $out"
  start_agent 1
  start_agent 2
  wire_pods
  ip netns exec ${P}p1 $TRAFFIC serve 8080 >"$T/server.log" 2>&1 &
  PIDS+=($!)
  until_ok 10 grep -q listening "$T/server.log" || fail "server did not start"
  until_ok 10 probe p2 "$WEB" || fail "client -> web should be allowed"
  denied p3 "$WEB" || fail "stray -> web should be denied"
  IDS1=$(identities 1) IDS2=$(identities 2)
  kill -9 "${ETCDS[0]}"  # the first listed member: the one both agents talk to
  wait "${ETCDS[0]}" 2>/dev/null
  probe p2 "$WEB" && denied p3 "$WEB" || fail "verdicts changed when a member was lost"
  write_policy "{app: stray}"
  apply "$T/policy.yaml"
  until_ok 5 probe p3 "$WEB" || fail "a change written through the other members should apply"
  [ "$(identities 1)" = "$IDS1" ] && [ "$(identities 2)" = "$IDS2" ] ||
    fail "identities changed when a member was lost"
  until_ok 10 sh -c "curl -s --unix-socket $T/agent1.sock http://x/status | grep -q '\"reachable\":true'" ||
    fail "node-1 should report the store reachable: $(status 1)"
  until_ok 10 sh -c "curl -s --unix-socket $T/agent2.sock http://x/status | grep -q '\"reachable\":true'" ||
    fail "node-2 should report the store reachable: $(status 2)"
  ! grep -q "reconcile failed" "$T/agent1.log" "$T/agent2.log" || fail "a reconcile failed"
  ok "3-member etcd, first member killed: verdicts and identities unchanged, changes flow, reachable"
  echo PASS
  exit 0
fi

setup
start_etcd
write_policy ""
cat "$T/pods.yaml" >"$T/all.yaml"
echo --- >>"$T/all.yaml"
cat "$T/policy.yaml" >>"$T/all.yaml"
out=$(kv apply -f "$T/all.yaml") || fail "apply: $out"
start_agent 1
start_agent 2
wire_pods
ip netns exec ${P}p1 $TRAFFIC serve 8080 >"$T/server.log" 2>&1 &
PIDS+=($!)
until_ok 10 grep -q listening "$T/server.log" || fail "server did not start"

# 1. Everything from the store.
until_ok 10 probe p2 "$WEB" || fail "client (node-1) -> web (node-2) should be allowed"
denied p3 "$WEB" || fail "stray (node-1) -> web (node-2) should be denied"
[ "$(field 1 "d['store']['nodes']")" = 2 ] || fail "node-1 should see 2 nodes in the store"
ok "nodes, addresses and identities from the store: client -> web allowed, stray -> web denied"
# A pod with no Pod object (CNI request labels only) on node-1: node-2 learns its labels from
# the ipcache record, so the policy's {app: client} selects it there too.
code=$(curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$T/agent1.sock" -X PUT \
  "http://x/v1/endpoints/ctr4" \
  -d "{\"ifname\":\"eth0\",\"netns\":\"/run/netns/${P}p4\",\"labels\":{\"app\":\"client\",\"via\":\"cni\"}}")
[ "$code" = 201 ] || fail "PUT ctr4: $code $(cat "$T/body")"
until_ok 10 probe p4 "$WEB" || fail "a CNI-only app=client pod (node-1) -> web (node-2) should be allowed"
ok "a CNI-only pod on node-1 is selected by labels on node-2"
# membrane observe with the node list from the store: node-2 read at its published Observer,
# node-1 (none published) named as unreadable, exit 1; an unreachable store: exit 5.
kv observe --all --to-port 8080 -o json >"$T/obs" 2>"$T/obs.err"; rc=$?
[ "$rc" = 1 ] || fail "observe from the store: exit $rc ($(cat "$T/obs.err"))"
grep -q "node node-1 (-): publishes no Observer address" "$T/obs.err" ||
  fail "node-1 not named: $(cat "$T/obs.err")"
grep -q '"node_name":"node-2"' "$T/obs" && grep -q '"pod_name":"web"' "$T/obs" ||
  fail "node-2's flows missing: $(head -c 600 "$T/obs")"
in_n1 "$CLI" observe --etcd-endpoints http://192.168.99.2:1 --etcd-timeout-ms 300 2>"$T/obs.err"
rc=$?
[ "$rc" = 5 ] || fail "observe, store unreachable: exit $rc ($(cat "$T/obs.err"))"
ok "membrane observe --etcd-endpoints: node-2's flows from its published Observer, node-1 named; no store: exit 5"
write_policy "{app: stray}"
apply "$T/policy.yaml"
until_ok 5 probe p3 "$WEB" || fail "stray -> web should be allowed after the policy change"
probe p2 "$WEB" || fail "client -> web should stay allowed"
[ "$(field 1 "d['desiredState']['applied']")" = "$(field 2 "d['desiredState']['applied']")" ] ||
  fail "the two agents applied different object sets"
ok "a policy applied with membrane apply is enforced (both agents report revision and digest)"
write_policy ""
apply "$T/policy.yaml"
until_ok 5 denied p3 "$WEB" || fail "stray -> web should be denied again"
# Relabelling stray renumbers stray only (the store numbers label sets, not the load order).
B1=$(identities 1) B2=$(identities 2)
sed 's/name: stray, labels: {app: stray}/name: stray, labels: {app: stray, rev: "2"}/' "$T/pods.yaml" >"$T/relabel.yaml"
grep -q 'rev: "2"' "$T/relabel.yaml" || fail "relabel edit did not apply"
apply "$T/relabel.yaml"
IDS1=$(identities 1) IDS2=$(identities 2)
client_id() { echo "$1" | tr ' ' '\n' | grep "^$2=" ; }
CLIENT_IP=$(ip -n ${P}p2 -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
STRAY_IP=$(ip -n ${P}p3 -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
[ "$IDS2" = "$B2" ] || fail "web's identity changed when stray was relabelled: $B2 -> $IDS2"
[ "$(client_id "$IDS1" "$CLIENT_IP")" = "$(client_id "$B1" "$CLIENT_IP")" ] ||
  fail "client's identity changed when stray was relabelled: $B1 -> $IDS1"
[ "$(client_id "$IDS1" "$STRAY_IP")" != "$(client_id "$B1" "$STRAY_IP")" ] ||
  fail "stray's identity should change with its labels: $B1 -> $IDS1"
denied p3 "$WEB" || fail "relabelled stray -> web should stay denied"
ok "relabelling stray renumbers stray only ($B1 -> $IDS1; node-2: $IDS2)"

# 1b. Identity GC. ids_stored: the numbers under identities/id/, sorted.
ids_stored() { in_n1 etcdctl --endpoints $EP get --prefix "$P/identities/id/" --keys-only | sed -n 's|.*/identities/id/||p' | sort -n | tr '\n' ' '; }
id_gone() { ! ids_stored | grep -qw "$1"; }
gc_passes() { field "$1" "d['store']['identityGC']['passes']"; }
OLD_STRAY=$(client_id "$B1" "$STRAY_IP" | cut -d= -f2)
KEEP="$(client_id "$IDS1" "$CLIENT_IP" | cut -d= -f2) $(client_id "$IDS1" "$STRAY_IP" | cut -d= -f2) $(client_id "$IDS2" "$WEB" | cut -d= -f2)"
for id in $OLD_STRAY $KEEP; do
  [ -n "$id" ] || fail "an identity number is missing: old stray '$OLD_STRAY', in use '$KEEP'"
done
until_ok $((GC_GRACE * 4 + 10)) id_gone "$OLD_STRAY" ||
  fail "stray's old identity $OLD_STRAY (no node references it) not collected: $(ids_stored)"
C1=$(field 1 "d['store']['identityGC']['collected']") C2=$(field 2 "d['store']['identityGC']['collected']")
[ -n "$C1" ] && [ -n "$C2" ] && [ $((C1 + C2)) -ge 1 ] ||
  fail "no agent reports a collected identity ('$C1', '$C2'): $(status 1)"
[ "$(in_n1 etcdctl --endpoints $EP get --prefix "$P/identities/labels/" --keys-only | grep 'app=stray' | grep -vc 'rev=2')" = 0 ] ||
  fail "stray's old label set is still stored"
P1=$(gc_passes 1) P2=$(gc_passes 2)
[ -n "$P1" ] && [ -n "$P2" ] || fail "the agents report no GC passes: $(status 1)"
until_ok $((GC_GRACE * 4 + 10)) sh -c "[ \$(curl -s --unix-socket $T/agent1.sock http://x/status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"store\"][\"identityGC\"][\"passes\"])') -ge $((P1 + 3)) ] && [ \$(curl -s --unix-socket $T/agent2.sock http://x/status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"store\"][\"identityGC\"][\"passes\"])') -ge $((P2 + 3)) ]" ||
  fail "the agents stopped running GC passes ($P1, $P2 -> $(gc_passes 1), $(gc_passes 2))"
for id in $KEEP; do
  ids_stored | grep -qw "$id" || fail "identity $id is in use but was collected: $(ids_stored)"
done
[ "$(identities 1)" = "$IDS1" ] && [ "$(identities 2)" = "$IDS2" ] ||
  fail "identities changed across GC: $IDS1 / $IDS2 -> $(identities 1) / $(identities 2)"
denied p3 "$WEB" && probe p2 "$WEB" || fail "verdicts changed across GC"
ok "identity GC: $OLD_STRAY (unreferenced) collected after the ${GC_GRACE} s grace; $KEEP (in use) kept through 3 more passes of both agents"

# 2. etcd outage.
kill -9 $ETCD
wait $ETCD 2>/dev/null
ETCD=""
until_ok 10 sh -c "curl -s --unix-socket $T/agent1.sock http://x/status | grep -q '\"reachable\":false'" ||
  fail "node-1 should report the store unreachable: $(status 1)"
until_ok 10 sh -c "curl -s --unix-socket $T/agent2.sock http://x/status | grep -q '\"reachable\":false'" ||
  fail "node-2 should report the store unreachable"
"$CLI" status --socket "$T/agent1.sock" | grep -q "store: *UNREACHABLE" ||
  fail "membrane status should say UNREACHABLE: $("$CLI" status --socket "$T/agent1.sock")"
probe p2 "$WEB" || fail "client -> web should stay allowed during the outage"
denied p3 "$WEB" || fail "stray -> web should stay denied during the outage"
ok "etcd down: verdicts unchanged, both agents report the store unreachable"
start_etcd
until_ok 15 sh -c "curl -s --unix-socket $T/agent1.sock http://x/status | grep -q '\"reachable\":true'" ||
  fail "node-1 should report the store reachable again"
until_ok 15 sh -c "curl -s --unix-socket $T/agent2.sock http://x/status | grep -q '\"reachable\":true'" ||
  fail "node-2 should report the store reachable again"
[ "$(identities 1)" = "$IDS1" ] && [ "$(identities 2)" = "$IDS2" ] ||
  fail "identities changed across the outage: $IDS1 / $IDS2 -> $(identities 1) / $(identities 2)"
probe p2 "$WEB" && denied p3 "$WEB" || fail "verdicts changed after etcd came back"
write_policy "{app: stray}"
apply "$T/policy.yaml"
until_ok 5 probe p3 "$WEB" || fail "a change after the outage should be applied"
ok "etcd back: reachable, identities unchanged, changes flow again"

# 3. node-2's agent killed -9 and restarted within the TTL.
REV1=$(field 1 "d['policyRevision']")
LEASE2=$(field 2 "d['store']['lease']")
kill -9 $A2
wait $A2 2>/dev/null
probe p2 "$WEB" || fail "client -> web should stay allowed while node-2's agent is down"
start_agent 2
until_ok 10 sh -c "curl -s --unix-socket $T/agent2.sock http://x/status | grep -q '\"lease\":\"$LEASE2\"'" ||
  fail "node-2 should take back its lease $LEASE2: $(status 2)"
probe p2 "$WEB" && probe p3 "$WEB" || fail "traffic after node-2's restart"
[ "$(field 1 "d['policyRevision']")" = "$REV1" ] ||
  fail "node-1's maps changed when node-2 restarted ($REV1 -> $(field 1 "d['policyRevision']"))"
[ "$(identities 1)" = "$IDS1" ] && [ "$(identities 2)" = "$IDS2" ] ||
  fail "identities changed across node-2's restart"
ok "node-2 killed -9 and restarted within the TTL: same lease, nothing changed on node-1"

# 4. node-2 gone for good: its entries leave node-1 after the TTL.
kill -9 $A2
wait $A2 2>/dev/null
A2=""
until_ok $((TTL + 10)) sh -c "[ \$(curl -s --unix-socket $T/agent1.sock http://x/status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"store\"][\"nodes\"])') = 1 ]" ||
  fail "node-2 should leave node-1's view after the TTL"
kv get pods >/dev/null || fail "store unreadable"
[ "$(in_n1 etcdctl --endpoints $EP get --prefix "$P/ipcache/$WEB" --keys-only | grep -c .)" = 0 ] ||
  fail "web's ipcache entry should have expired with node-2's lease"
ok "node-2 dead: its node record and endpoint left the store and node-1's view after the TTL"
echo PASS
