#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Flows end to end: two real membrane-agent processes, each in a node namespace of its own
# (nsenter --net) with its own bpffs mount, state directory and sockets; pods are
# namespaces wired through the API; real TCP traffic, allowed and denied. `membrane
# observe` reads the agents' Observer service (unix socket; node 2 also on loopback TCP):
# drops with reason and pods, forwards with the allowing policy and its manifest
# file:line, node 2's policy audit mode (AUDIT instead of DROPPED), per-endpoint audit mode
# on node 1 (membrane endpoint config), filters on both sides,
# an invalid filter refused (INVALID_ARGUMENT, exit 2),
# several nodes merged, a node that does not answer named while the other's flows still
# print (exit 1), nothing readable (exit 6), --follow seeing new traffic. A real Prometheus
# (in a monitoring namespace linked to both nodes, private data directory, loopback port,
# killed by PID) scrapes both agents' /metrics; values are checked through its query API.
# Usage: observe_test.sh AGENT_BINARY MEMBRANE_CLI
# Waits poll conditions, never fixed sleeps. Cleans up by PID and by this run's unique
# names, also on failure. Exit 77 = skipped (not root).
set -u
AGENT=$(readlink -f "$1")
CLI=$(readlink -f "$2")
HERE=$(cd "$(dirname "$0")" && pwd)
TRAFFIC="python3 $HERE/traffic.py"
. "$HERE/../support/privileged.sh"
require_root "the observe tests need root"

P="mbob$$"  # netns names of this run
T=$(mktemp -d /tmp/membrane-observe-XXXXXX)
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  for ns in n1 n2 n1a n1b n1c n2a n2b n2c m; do ip netns del "${P}$ns" 2>/dev/null; done
  for m in "$T"/bpf1 "$T"/bpf2; do mountpoint -q "$m" && umount "$m"; done
  rm -rf "$T"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  for i in 1 2; do echo "--- agent $i log"; cat "$T/agent$i.log" 2>/dev/null; done
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
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$T/agent$1.sock" http://x/healthz)" = 200 ]; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
probe() { ip netns exec "${P}$1" $TRAFFIC probe "$2" 8080 "${3:-1}"; }
obs() { "$CLI" observe "$@"; }
S1="unix://$T/hubble1.sock"
S2="unix://$T/hubble2.sock"

# setup_node I: node namespace n$I, agent I, pods a (web), b (client), c (stray).
setup_node() {
  local i=$1 node=${P}n$1
  ip netns add "$node" || fail "netns add"
  ip -n "$node" link set lo up
  ip -n "$node" link add uplink type veth peer name uplink-peer
  ip -n "$node" addr add "192.168.98.$((i + 1))/32" dev uplink
  ip -n "$node" link set uplink up
  ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1
  mkdir -p "$T/bpf$i" "$T/man$i"
  mount -t bpf bpf "$T/bpf$i" || fail "mount bpffs"
  cat >"$T/man$i/pods.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: web, labels: {app: web}}
spec: {nodeName: node-$i}
---
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: client, labels: {app: client}}
spec: {nodeName: node-$i}
YAML
  cat >"$T/man$i/policy.yaml" <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: default, name: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
    ports: [{port: 8080, protocol: TCP}]
YAML
  # The monitoring namespace's link to this node: metrics on 10.250.I.1:9962.
  ip -n "$node" link add mon type veth peer name "node$i" netns "${P}m"
  ip -n "$node" addr add "10.250.$i.1/30" dev mon
  ip -n "$node" link set mon up
  ip -n "${P}m" addr add "10.250.$i.2/30" dev "node$i"
  ip -n "${P}m" link set "node$i" up
  local extra=(--metrics-listen "10.250.$i.1:9962")
  # Node 2 also serves the Observer on loopback TCP and runs in policy audit mode.
  [ "$i" = 2 ] && extra+=(--observer-listen 127.0.0.1:4245 --policy-audit-mode true)
  nsenter --net=/run/netns/"$node" "$AGENT" --node-name "node-$i" --node-ip "192.168.98.$((i + 1))" \
    --pod-cidr "10.98.$i.0/24" --routing native --state-dir "$T/state$i" \
    --bpffs-dir "$T/bpf$i/membrane" --socket "$T/agent$i.sock" --manifests "$T/man$i" \
    --observer-socket "$T/hubble$i.sock" --max-endpoints 16 --ct-entries 4096 \
    --ipcache-entries 1024 --policy-entries 256 "${extra[@]}" >>"$T/agent$i.log" 2>&1 &
  PIDS+=($!)
  until_ok 20 healthy "$i" || fail "agent $i not healthy"
  local n=0 spec
  for spec in "a web" "b client" "c -"; do
    set -- $spec
    n=$((n + 1))
    ip netns add "${P}n$i$1" || fail "netns add"
    local pod=""
    [ "$2" != - ] && pod=",\"podNamespace\":\"default\",\"podName\":\"$2\""
    api "$i" -X PUT "http://x/v1/endpoints/ctr$n" \
      -d "{\"ifname\":\"eth0\",\"netns\":\"/run/netns/${P}n$i$1\"$pod}" >"$T/body"
    eval "IP_$i$1=$(json 'd["endpoint"]["ip"]' <"$T/body")" || fail "PUT ctr$n: $(cat "$T/body")"
  done
  ip netns exec "${P}n${i}a" $TRAFFIC serve 8080 >"$T/server$i.log" 2>&1 &
  PIDS+=($!)
  until_ok 10 grep -q listening "$T/server$i.log" || fail "server $i did not start"
}

ip netns add "${P}m" || fail "netns add"
ip -n "${P}m" link set lo up
setup_node 1
setup_node 2
ok "two agents, three pods each"

probe n1b "$IP_1a" || fail "node 1: client -> web should be allowed"
! probe n1c "$IP_1a" || fail "node 1: stray -> web should be denied"
probe n2b "$IP_2a" || fail "node 2: client -> web should be allowed"
probe n2c "$IP_2a" || fail "node 2 (audit mode): stray -> web should pass"
ok "traffic: allowed and denied on node 1; node 2 in audit mode lets the stray through"

# Drops: reason, pods, direction; only drops with --verdict DROPPED.
has_drop() { obs --server "$S1" --verdict DROPPED --to-pod default/web --all -o json >"$T/drops"; [ -s "$T/drops" ]; }
until_ok 10 has_drop || fail "no drop flow read: $(cat "$T/drops")"
python3 - "$T/drops" "$IP_1c" "$IP_1a" <<'PY' || fail "drop flows: $(cat "$T/drops")"
import json, sys
flows = [json.loads(l) for l in open(sys.argv[1])]
assert all(f["verdict"] == "DROPPED" for f in flows), "a non-drop passed --verdict DROPPED"
f = flows[-1]
assert f["drop_reason_desc"] == "POLICY_DENIED", f
assert f["IP"]["source"] == sys.argv[2] and f["IP"]["destination"] == sys.argv[3], f
assert f["destination"]["pod_name"] == "web" and f["destination"]["namespace"] == "default", f
assert f["l4"]["TCP"]["destination_port"] == 8080 and f["l4"]["TCP"]["flags"]["SYN"], f
assert f["traffic_direction"] == "INGRESS" and f["node_name"] == "node-1", f
assert f["event_type"]["type"] == 1, f
PY
ok "drop: POLICY_DENIED, stray -> default/web:8080 SYN, ingress, node-1"

# Forwards: the allowing policy with the rule's manifest file:line ("- from:" is line 7).
obs --server "$S1" --verdict FORWARDED --from-pod default/client --to-port 8080 --last 5 \
  -o jsonpb >"$T/fwd" || fail "observe forwarded: exit $?"
python3 - "$T/fwd" "$T/man1/policy.yaml" <<'PY' || fail "forwarded flows: $(cat "$T/fwd")"
import json, sys
flows = [json.loads(l)["flow"] for l in open(sys.argv[1])]
assert flows, "no forwarded flow"
assert all(f["source"]["pod_name"] == "client" for f in flows)
ing = [f for f in flows if f["traffic_direction"] == "INGRESS" and "ingress_allowed_by" in f]
assert ing, "no ingress flow with ingress_allowed_by"
p = ing[-1]["ingress_allowed_by"][0]
assert p["name"] == "web" and p["namespace"] == "default" and p["kind"] == "NetworkPolicy", p
assert p["membrane_source"]["name"] == sys.argv[2] and p["membrane_source"]["line"] == 7, p
assert p["membrane_rule"] == "spec.ingress[0]", p
PY
obs --server "$S1" --verdict FORWARDED --from-pod default/client --last 5 >"$T/compact" ||
  fail "compact: exit $?"
grep -q "default/client:[0-9]* (ID:[0-9]*) -> default/web:8080 (ID:[0-9]*) to-endpoint FORWARDED (TCP Flags: SYN) by NetworkPolicy default/web spec.ingress\[0\] ($T/man1/policy.yaml:7)" "$T/compact" ||
  fail "compact line: $(cat "$T/compact")"
ok "forward: ingress_allowed_by NetworkPolicy default/web at policy.yaml:7 (json and compact)"

# Filters that exclude: nothing of client -> web is a drop; the stray never reached web.
n=$(obs --server "$S1" --from-pod default/client --to-pod default/web --verdict DROPPED --all -o json | wc -l)
[ "$n" = 0 ] || fail "client -> web drops: $n"
n=$(obs --server "$S1" --from-ip "$IP_1c" --verdict FORWARDED --to-port 8080 \
  --traffic-direction ingress --all -o json | wc -l)
[ "$n" = 0 ] || fail "stray -> web forwarded into web: $n"
n=$(obs --server "$S1" --type drop --all -o json | wc -l)
[ "$n" -ge 1 ] || fail "--type drop found nothing"
ok "filters exclude what they should"

# Bad input: the agent refuses an invalid filter; the CLI refuses bad flags.
obs --server "$S1" --from-ip 10.0.300.1 2>"$T/err"; rc=$?
[ "$rc" = 2 ] || fail "invalid IP filter: exit $rc"
grep -q 'whitelist\[0\].source_ip\[0\]: "10.0.300.1": expected an IPv4 address or CIDR' "$T/err" ||
  fail "invalid filter message: $(cat "$T/err")"
obs --server "$S1" --output yaml 2>/dev/null; rc=$?
[ "$rc" = 2 ] || fail "-o yaml: exit $rc"
ok "invalid filter: INVALID_ARGUMENT naming whitelist[0].source_ip[0], exit 2"

# Audit mode: the stray's connection on node 2 is an AUDIT flow naming the would-be reason.
obs --server "$S2" --verdict AUDIT --from-ip "$IP_2c" --to-port 8080 --all -o json >"$T/audit" ||
  fail "observe audit: exit $?"
python3 - "$T/audit" <<'PY' || fail "audit flows: $(cat "$T/audit")"
import json, sys
flows = [json.loads(l) for l in open(sys.argv[1])]
assert flows, "no AUDIT flow"
f = flows[0]
assert f["verdict"] == "AUDIT" and f["drop_reason_desc"] == "POLICY_DENIED", f
assert f["destination"]["pod_name"] == "web" and f["traffic_direction"] == "INGRESS", f
PY
n=$(obs --server "$S2" --verdict DROPPED --from-ip "$IP_2c" --to-port 8080 --all -o json | wc -l)
[ "$n" = 0 ] || fail "node 2 (audit mode) dropped the stray: $n"
ok "audit mode: the stray's connection is AUDIT (POLICY_DENIED), not DROPPED"

# Per-endpoint audit mode on node 1 (enforcing node-wide): web's policy drops pass as AUDIT,
# the setting is persisted in the agent's state, and disabling it enforces again.
epcfg() { "$CLI" endpoint config "$@" --socket "$T/agent1.sock"; }
epcfg ctr1 PolicyAuditMode=Maybe 2>"$T/err"; rc=$?
[ "$rc" = 2 ] && grep -q 'expected Enabled or Disabled, got "Maybe"' "$T/err" ||
  fail "bad audit value: exit $rc, $(cat "$T/err")"
epcfg no-such-ctr PolicyAuditMode=Enabled 2>"$T/err"; rc=$?
[ "$rc" = 1 ] && grep -q "no endpoint no-such-ctr/eth0" "$T/err" ||
  fail "unknown endpoint: exit $rc, $(cat "$T/err")"
epcfg ctr1 PolicyAuditMode=Enabled | json 'd["policyAuditMode"]' | grep -qx True ||
  fail "endpoint config did not enable audit"
python3 - "$T/state1/endpoints.json" <<'PY' || fail "audit not persisted: $(cat "$T/state1/endpoints.json")"
import json, sys
eps = {e["containerId"]: e for e in json.load(open(sys.argv[1]))["endpoints"]}
assert eps["ctr1"]["policyAuditMode"] is True and eps["ctr2"]["policyAuditMode"] is False, eps
PY
probe n1c "$IP_1a" || fail "node 1, web in audit mode: stray -> web should pass"
has_audit1() {
  obs --server "$S1" --verdict AUDIT --from-ip "$IP_1c" --to-port 8080 --all -o json >"$T/audit1"
  grep -q '"verdict":"AUDIT"' "$T/audit1"
}
until_ok 10 has_audit1 || fail "no AUDIT flow on node 1: $(cat "$T/audit1")"
epcfg ctr1 PolicyAuditMode=Disabled | json 'd["policyAuditMode"]' | grep -qx False ||
  fail "endpoint config did not disable audit"
! probe n1c "$IP_1a" || fail "node 1, audit disabled again: stray -> web should be denied"
ok "per-endpoint audit mode: enabled (AUDIT flow, persisted), disabled (denied again); bad value exit 2"

# Several nodes: both nodes' flows, each named.
obs --server "$S1" --server "$S2" --verdict FORWARDED --to-port 8080 --all >"$T/both" ||
  fail "two nodes: exit $?"
grep -q "\[node-1\]" "$T/both" && grep -q "\[node-2\]" "$T/both" ||
  fail "two nodes: $(cat "$T/both")"
# Node 2 also on loopback TCP inside its node namespace.
nsenter --net=/run/netns/${P}n2 "$CLI" observe --server 127.0.0.1:4245 --to-port 8080 --all \
  -o json | grep -q '"node_name":"node-2"' || fail "node 2 over TCP"
ok "two nodes merged; node 2 over 127.0.0.1:4245"

# A node that does not answer: named, the other's flows still print, exit 1; none: exit 6.
obs --server "$S1" --server "unix://$T/dead.sock" --all -o json >"$T/partial" 2>"$T/err"; rc=$?
[ "$rc" = 1 ] || fail "one dead node: exit $rc"
grep -q "node unix://$T/dead.sock" "$T/err" || fail "dead node not named: $(cat "$T/err")"
[ -s "$T/partial" ] || fail "the live node's flows were not printed"
obs --server "unix://$T/dead.sock" 2>/dev/null; rc=$?
[ "$rc" = 6 ] || fail "no node: exit $rc"
ok "dead node named, the other's flows printed (exit 1); nothing readable: exit 6"

# --follow: a new connection shows up while following.
obs --server "$S2" -f --from-pod default/client --to-pod default/web -o json >"$T/follow" 2>&1 &
FPID=$!
PIDS+=($FPID)
until_ok 10 test -S "$T/hubble2.sock" || fail "no socket"
followed() { probe n2b "$IP_2a" && grep -q '"pod_name":"web"' "$T/follow"; }
until_ok 10 followed || fail "follow saw nothing: $(cat "$T/follow")"
kill "$FPID"
ok "--follow prints new flows"

# Prometheus scrapes both agents every second.
cat >"$T/prom.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: membrane
  static_configs:
  - targets: ['10.250.1.1:9962', '10.250.2.1:9962']
YAML
ip netns exec "${P}m" prometheus --config.file="$T/prom.yml" --storage.tsdb.path="$T/promdata" \
  --web.listen-address=127.0.0.1:9090 >"$T/prom.log" 2>&1 &
PIDS+=($!)
# promq EXPR: the instant vector as "instance value" lines.
promq() {
  ip netns exec "${P}m" curl -s --max-time 5 --data-urlencode "query=$1" \
    http://127.0.0.1:9090/api/v1/query | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["status"] == "success", d
for r in d["data"]["result"]:
    print(r["metric"].get("instance", "-"), r["value"][1])'
}
value() { promq "$1" | awk -v i="$2" '$1 == i {print $2}'; }
N1=10.250.1.1:9962
N2=10.250.2.1:9962
both_up() { [ "$(value up "$N1")" = 1 ] && [ "$(value up "$N2")" = 1 ]; }
until_ok 30 both_up || fail "Prometheus: targets not up: $(promq up) $(tail -5 "$T/prom.log")"
[ "$(value cilium_endpoint "$N1")" = 3 ] && [ "$(value cilium_endpoint "$N2")" = 3 ] ||
  fail "cilium_endpoint: $(promq cilium_endpoint)"
[ "$(value cilium_policy "$N1")" = 1 ] || fail "cilium_policy: $(promq cilium_policy)"
# Every policy drop on node 1 became a flow: the datapath's counter equals Hubble's.
drops_agree() {
  local dp hub
  dp=$(value 'sum by (instance) (cilium_drop_count_total{reason="POLICY_DENIED"})' "$N1")
  hub=$(value 'sum by (instance) (hubble_drop_total{reason="POLICY_DENIED",protocol="TCP"})' "$N1")
  [ -n "$dp" ] && [ "$dp" -ge 1 ] && [ "$dp" = "$hub" ]
}
until_ok 15 drops_agree || fail "drops: $(promq 'cilium_drop_count_total') / $(promq hubble_drop_total)"
[ -z "$(value 'sum by (instance) (hubble_drop_total{reason="POLICY_DENIED"})' "$N2")" ] ||
  fail "node 2 had no denied connection: $(promq hubble_drop_total)"
v=$(value 'hubble_policy_verdicts_total{direction="ingress",match="l3-l4",action="forwarded"}' "$N2")
[ -n "$v" ] && [ "$v" -ge 1 ] || fail "policy verdicts: $(promq hubble_policy_verdicts_total)"
v=$(value 'sum by (instance) (hubble_policy_verdicts_total{action="audit"})' "$N2")
[ -n "$v" ] && [ "$v" -ge 1 ] || fail "audit verdicts: $(promq hubble_policy_verdicts_total)"
v=$(value 'hubble_tcp_flags_total{flag="SYN"}' "$N2")
[ -n "$v" ] && [ "$v" -ge 1 ] || fail "tcp flags: $(promq hubble_tcp_flags_total)"
v=$(value 'hubble_flows_processed_total{type="Trace",verdict="FORWARDED",subtype="to-endpoint"}' "$N1")
[ -n "$v" ] && [ "$v" -ge 1 ] || fail "flows processed: $(promq hubble_flows_processed_total)"
# Map writes of the agent: endpoint and ipcache updates counted per map (kernel names are
# truncated to 15 characters), no failure on a healthy node.
v=$(value 'sum by (instance) (cilium_bpf_map_ops_total{map_name=~"membrane_ipcach.*",operation="update",outcome="success"})' "$N1")
[ -n "$v" ] && [ "$v" -ge 3 ] || fail "map ops (ipcache updates): $(promq cilium_bpf_map_ops_total)"
v=$(value 'sum by (instance) (cilium_bpf_map_ops_total{map_name=~"membrane_endpo.*",operation="update"})' "$N1")
[ -n "$v" ] && [ "$v" -ge 3 ] || fail "map ops (endpoint updates): $(promq cilium_bpf_map_ops_total)"
[ -z "$(value 'sum by (instance) (cilium_bpf_map_ops_total{outcome="fail"})' "$N1")" ] ||
  fail "map ops failed: $(promq 'cilium_bpf_map_ops_total{outcome="fail"}')"
v=$(value 'cilium_endpoint_regenerations_total{outcome="success"}' "$N1")
[ -n "$v" ] && [ "$v" -ge 1 ] || fail "regenerations: $(promq cilium_endpoint_regenerations_total)"
ok "Prometheus scraped both agents: endpoints, policies, drops (datapath = flows), verdicts, flags"
echo "PASS"
