#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# L7 end to end on a node: a real membrane-agent (in a node namespace, own bpffs, state dir)
# started with --l7-proxy-binary runs membrane-proxy; pods are namespaces wired through the
# agent's API. The client's egress policy puts HTTP rules on port 8080 of the web pod and
# plainly allows port 9090. The BPF datapath marks the client's 8080 packets for the proxy
# (the proxy's port is LISTENING in membrane_proxy_ports), TPROXY hands them to it, it
# forwards allowed requests from the client's own address and answers 403 to the others.
# Checks: GET /public -> 200 and the server sees the client's address; GET /private -> 403
# naming the policy; a header rule; 9090 plain; the proxy killed -9 -> restarted by the agent
# with its rules, requests allowed again; the agent stopped -> the proxy stops with it, its port
# leaves the map and 8080 fails closed while 9090 still works (the datapath keeps running);
# the agent back -> 200 again; --uninstall removes the redirect plumbing.
# The requests are L7 flows in the agent's Observer (membrane observe --type l7).
# Usage: l7_test.sh AGENT_BINARY PROXY_BINARY MEMBRANE_CLI. Cleans up by PID and by this run's unique
# names, also on failure. Exit 77 = skipped (not root).
set -u
AGENT=$(readlink -f "$1")
PROXY=$(readlink -f "$2")
CLI=$(readlink -f "$3")
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../support/privileged.sh"
require_root "the L7 test needs root"
command -v curl >/dev/null || require_or_skip "curl is not installed"

P="mbl7$$"
T=$(mktemp -d /tmp/membrane-l7-XXXXXX)
N=${P}n
A="" PIDS=()
cleanup() {
  [ -n "$A" ] && kill -9 "$A" 2>/dev/null
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  # The proxy is the agent's child: a kill -9 of the agent leaves it; its PID is in the log.
  for p in $(sed -n 's/.*L7 proxy listening (pid \([0-9]*\)).*/\1/p' "$T/agent.log" 2>/dev/null); do
    kill -9 "$p" 2>/dev/null
  done
  [ -d "$T/bpf" ] && nsenter --net=/run/netns/$N "$AGENT" --uninstall "${ARGS[@]}" >/dev/null 2>&1
  for ns in n a b; do ip netns del "${P}$ns" 2>/dev/null; done
  mountpoint -q "$T/bpf" && umount "$T/bpf"
  rm -rf "$T"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  echo "--- agent log (tail)"; tail -30 "$T/agent.log" 2>/dev/null
  echo "--- access log (tail)"; tail -5 "$T/state/proxy/access.log" 2>/dev/null
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
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$T/agent.sock" http://x/healthz)" = 200 ]; }
api() { curl -s --max-time 10 --unix-socket "$T/agent.sock" "$@"; }
# get PORT PATH [curl args]: "BODY CODE" from the client pod.
get() {
  local port=$1 path=$2; shift 2
  ip netns exec ${P}a curl -s --max-time 3 -w ' %{http_code}' "$@" "http://$WEB:$port$path" |
    tr -d '\n'
}
proxy_pid() { sed -n 's/.*L7 proxy listening (pid \([0-9]*\)).*/\1/p' "$T/agent.log" | tail -1; }

ip netns add $N || fail "netns add"
ip -n $N link set lo up
ip -n $N link add uplink type veth peer name uplink-peer
ip -n $N addr add 192.168.97.2/32 dev uplink
ip -n $N link set uplink up
ip netns exec $N sysctl -qw net.ipv4.ip_forward=1
mkdir -p "$T/bpf" "$T/man"
mount -t bpf bpf "$T/bpf" || fail "mount bpffs"
cat >"$T/man/m.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: web, labels: {app: web}}
spec: {nodeName: node-1}
---
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: client, labels: {app: client}}
spec: {nodeName: node-1}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {namespace: default, name: client-http}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toEndpoints: [{matchLabels: {app: web}}]
    toPorts:
    - ports: [{port: "8080", protocol: TCP}]
      rules:
        http:
        - {method: GET, path: "/public.*"}
        - {method: GET, path: "/team", headers: ["X-Team: blue"]}
  - toEndpoints: [{matchLabels: {app: web}}]
    toPorts: [{ports: [{port: "9090", protocol: TCP}]}]
YAML
ARGS=(--node-name node-1 --node-ip 192.168.97.2 --pod-cidr 10.97.1.0/24 --routing native
  --state-dir "$T/state" --bpffs-dir "$T/bpf/membrane" --socket "$T/agent.sock"
  --manifests "$T/man" --observer-socket "$T/hubble.sock" --max-endpoints 16
  --ct-entries 4096 --ipcache-entries 1024 --policy-entries 256 --l7-proxy-binary "$PROXY")
start_agent() {
  nsenter --net=/run/netns/$N "$AGENT" "${ARGS[@]}" >>"$T/agent.log" 2>&1 &
  A=$!
  until_ok 20 healthy || fail "agent not healthy"
}
start_agent
n=0
for spec in "a client" "b web"; do
  set -- $spec
  n=$((n + 1))
  ip netns add "${P}$1" || fail "netns add"
  api -X PUT "http://x/v1/endpoints/ctr$n" \
    -d "{\"ifname\":\"eth0\",\"netns\":\"/run/netns/${P}$1\",\"podNamespace\":\"default\",\"podName\":\"$2\"}" >"$T/body"
  ip=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['endpoint']['ip'])" "$T/body") ||
    fail "PUT ctr$n: $(cat "$T/body")"
  [ "$2" = web ] && WEB=$ip
  [ "$2" = client ] && CLIENT=$ip
done
for port in 8080 9090; do
  ip netns exec ${P}b python3 "$HERE/../proxy/http_server.py" "$WEB" $port >/dev/null 2>&1 &
  PIDS+=($!)
done
until_ok 10 sh -c "ip netns exec ${P}b ss -ltn | grep -q ':9090'" || fail "servers did not start"
until_ok 10 test -n "$(proxy_pid)" || fail "the agent did not report its L7 proxy listening"
ok "agent with its L7 proxy (pid $(proxy_pid)); client $CLIENT, web $WEB"

allowed() { [ "$(get 8080 /public/a)" = "server saw /public/a from $CLIENT 200" ]; }
until_ok 10 allowed || fail "GET /public/a via the proxy: $(get 8080 /public/a)"
out=$(get 8080 /private)
[ "${out##* }" = 403 ] || fail "GET /private: expected 403, got $out"
echo "$out" | grep -q "client-http" || fail "403 does not name the policy: $out"
[ "$(get 8080 /team -H 'X-Team: blue')" = "server saw /team from $CLIENT 200" ] || fail "header rule: allowed with X-Team: blue"
out=$(get 8080 /team -H 'X-Team: red')
[ "${out##* }" = 403 ] || fail "header rule: expected 403 with X-Team: red, got $out"
[ "$(get 9090 /private)" = "server saw /private from $CLIENT 200" ] || fail "9090 is plainly allowed"
grep -q '"code":403' "$T/state/proxy/access.log" || fail "no access record of the 403"
ok "HTTP rules through the BPF redirect: /public 200 (server sees the client), /private 403, header rule, 9090 plain"
# The proxy's access records as L7 flows in the agent's Observer.
l7flows() { "$CLI" observe --server "unix://$T/hubble.sock" --type l7 --protocol http --all -o json >"$T/l7.json"; grep -q /private "$T/l7.json"; }
until_ok 10 l7flows || fail "no L7 flow in the Observer: $(head -c 800 "$T/l7.json")"
python3 - "$T/l7.json" "$CLIENT" <<'PY' || fail "L7 flows: $(head -c 1500 "$T/l7.json")"
import json, sys
flows = [json.loads(l) for l in open(sys.argv[1])]
def http(f): return f.get("l7", {}).get("http", {})
denied = [f for f in flows if http(f).get("url", "").endswith("/private")]
allowed = [f for f in flows if http(f).get("url", "").endswith("/public/a")]
assert denied and allowed, flows
d, a = denied[0], allowed[0]
assert d["verdict"] == "DROPPED" and http(d)["code"] == 403 and http(d)["method"] == "GET", d
assert a["verdict"] == "FORWARDED" and http(a)["code"] == 200, a
assert d["IP"]["source"] == sys.argv[2], d
PY
"$CLI" observe --server "unix://$T/hubble.sock" --type l7 --all >"$T/l7.txt" || fail "observe compact: exit $?"
grep -Eq "default/client:[0-9]+ \(ID:[0-9]+\) <> default/web:8080 \(ID:[0-9]+\) http-response DROPPED \(HTTP/1.1 403 [0-9.]+ms GET http://$WEB:8080/private\)" "$T/l7.txt" ||
  fail "compact L7 line: $(cat "$T/l7.txt")"
ok "L7 flows in the Observer: GET /private DROPPED 403, GET /public/a FORWARDED 200"

old=$(proxy_pid)
kill -9 "$old"
restarted() { local p; p=$(proxy_pid); [ -n "$p" ] && [ "$p" != "$old" ]; }
until_ok 10 restarted || fail "the agent did not restart its proxy"
until_ok 10 allowed || fail "after the restart: $(get 8080 /public/a)"
out=$(get 8080 /private)
[ "${out##* }" = 403 ] || fail "after the restart the rules are gone: /private gave $out"
ok "proxy killed -9: restarted by the agent (pid $(proxy_pid)) with its rules"

kill "$A"
wait "$A" 2>/dev/null
A=""
dead() { ! kill -0 "$(proxy_pid)" 2>/dev/null; }
until_ok 10 dead || fail "the proxy outlived its agent"
out=$(get 8080 /public/a)
[ "${out##* }" = 000 ] || fail "agent and proxy stopped: 8080 should fail closed, got $out"
[ "$(get 9090 /public/a)" = "server saw /public/a from $CLIENT 200" ] || fail "9090 with the agent stopped"
ok "agent stopped: its proxy stops, 8080 fails closed (no proxy port), 9090 still works"

start_agent
until_ok 15 allowed || fail "agent back: $(get 8080 /public/a)"
ok "agent back: its proxy serves the L7 flows again"

kill "$A"
wait "$A" 2>/dev/null
A=""
nsenter --net=/run/netns/$N "$AGENT" --uninstall "${ARGS[@]}" >>"$T/agent.log" 2>&1 || fail "uninstall"
ip netns exec $N ip rule | grep -q "lookup 2004" && fail "uninstall left the proxy's ip rule"
ip netns exec $N iptables -t mangle -S 2>/dev/null | grep -q MEMBRANE_PROXY && fail "uninstall left the mangle chain"
ok "uninstall removed the redirect plumbing"
echo "PASS"
