#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The node's redirect plumbing with real namespaces, a real proxy process, a real server and
# curl: node netns N routes between pod netns C (client, 10.77.1.2) and S (server, 10.77.2.2).
# An iptables MARK rule on C's veth stands in for the BPF program's proxy mark
# (0x200 | 15001 << 16); membrane-proxy --install-redirect adds the TPROXY plumbing.
# Checks: allowed GET -> 200 from the server, which sees the client's own address (upstream
# bound to the original source); denied path -> 403; header rule; proxy killed -> the L7 flow
# fails (TPROXY finds no socket and drops) while the unmarked port still works; proxy back ->
# works again; --uninstall-redirect leaves nothing. Exit 77 = skipped (not root).
# Usage: tproxy_netns_test.sh MEMBRANE_PROXY_BINARY
set -u
PROXY=$(readlink -f "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../support/privileged.sh"
require_root "the TPROXY test needs root"
command -v curl >/dev/null || require_or_skip "curl is not installed"

P="mbpx$$"
T=$(mktemp -d /tmp/membrane-proxy-netns-XXXXXX)
N=${P}n C=${P}c S=${P}s
PROXY_PID="" PIDS=()
cleanup() {
  [ -n "$PROXY_PID" ] && kill -9 "$PROXY_PID" 2>/dev/null
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  for ns in "$N" "$C" "$S"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- proxy log"; cat "$T/proxy.err" "$T/access.log" 2>/dev/null; exit 1; }
ok() { echo "ok: $*"; }
until_ok() {  # until_ok SECONDS CMD...: poll every 50 ms
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.05; done
}

for ns in "$N" "$C" "$S"; do ip netns add "$ns" || fail "netns $ns"; ip -n "$ns" link set lo up; done
ip -n "$N" link add ${P}c0 type veth peer name ${P}c1 && ip -n "$N" link set ${P}c1 netns "$C"
ip -n "$N" link add ${P}s0 type veth peer name ${P}s1 && ip -n "$N" link set ${P}s1 netns "$S"
ip -n "$N" addr add 10.77.1.1/24 dev ${P}c0 && ip -n "$N" link set ${P}c0 up
ip -n "$N" addr add 10.77.2.1/24 dev ${P}s0 && ip -n "$N" link set ${P}s0 up
ip -n "$C" addr add 10.77.1.2/24 dev ${P}c1 && ip -n "$C" link set ${P}c1 up
ip -n "$S" addr add 10.77.2.2/24 dev ${P}s1 && ip -n "$S" link set ${P}s1 up
ip -n "$C" route add default via 10.77.1.1
ip -n "$S" route add default via 10.77.2.1
ip netns exec "$N" sysctl -qw net.ipv4.ip_forward=1

cat >"$T/rules.json" <<'JSON'
{"version": 1,
 "ipcache": [{"cidr": "10.77.1.2/32", "identity": 1001}, {"cidr": "10.77.2.2/32", "identity": 1002}],
 "entries": [{"endpoint": "10.77.1.2", "direction": "egress", "port": 8080,
              "remote_identities": [1002],
              "http": [{"method": "GET", "path": "/public(/.*)?", "origin": "CiliumNetworkPolicy default/l7 spec.egress[0].toPorts[0].rules.http[0]"},
                       {"path": "/team", "headers": [{"name": "X-Team", "value": "blue"}], "origin": "CiliumNetworkPolicy default/l7 spec.egress[0].toPorts[0].rules.http[1]"}]}]}
JSON

for port in 8080 8081; do
  ip netns exec "$S" python3 "$HERE/http_server.py" 10.77.2.2 $port &
  PIDS+=($!)
done
until_ok 20 sh -c "ip netns exec $S ss -ltn | grep -q 10.77.2.2:8081" || fail "servers do not listen"
until_ok 20 sh -c "ip netns exec $S ss -ltn | grep -q 10.77.2.2:8080" || fail "servers do not listen"

start_proxy() {
  rm -f "$T/ready"
  ip netns exec "$N" "$PROXY" --rules "$T/rules.json" --port 15001 --upstream-original-source \
    --install-redirect --ready-file "$T/ready" --access-log "$T/access.log" 2>>"$T/proxy.err" &
  PROXY_PID=$!
  until_ok 10 test -s "$T/ready" || fail "proxy not ready"
  # The stand-in for the datapath's mark must run before the proxy's chain (tc runs before
  # netfilter), and --install-redirect re-inserts that chain first: put the mark back on top.
  local mark=(-i ${P}c0 -p tcp --dport 8080 -j MARK --set-mark 0x3a990200)
  ip netns exec "$N" iptables -w -t mangle -D PREROUTING "${mark[@]}" 2>/dev/null
  ip netns exec "$N" iptables -w -t mangle -I PREROUTING 1 "${mark[@]}" || fail "mark rule"
}
start_proxy

get() {  # get PATH [curl args]: prints "CODE BODY"
  local path=$1; shift
  ip netns exec "$C" curl -s --max-time 3 -w ' %{http_code}' "$@" "http://10.77.2.2:$path"
}
out=$(get 8080/public)
[ "$out" = "server saw /public from 10.77.1.2
 200" ] || fail "allowed GET: '$out'"
ok "GET /public -> 200 from the server, which saw the client's own address"
out=$(get 8080/private)
case "$out" in *"matches no rule of CiliumNetworkPolicy default/l7"*" 403") ;; *) fail "denied: '$out'";; esac
ok "GET /private -> 403 naming the policy"
[ "$(get 8080/team -o /dev/null)" = " 403" ] || fail "header rule without header"
[ "$(get 8080/team -o /dev/null -H 'X-Team: blue')" = " 200" ] || fail "header rule with header"
ok "header rule: 403 without X-Team: blue, 200 with it"
grep -q '"verdict":"DENIED"' "$T/access.log" || fail "no DENIED access record"
grep -q '"source_identity":1001' "$T/access.log" || fail "source identity not learned"
ok "access log has the verdicts and the source identity"

kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null; PROXY_PID=""
[ "$(get 8080/public -o /dev/null)" = " 000" ] || fail "L7 flow without a proxy did not fail"
[ "$(get 8081/other -o /dev/null)" = " 200" ] || fail "non-L7 flow broken while the proxy is down"
ok "proxy down: the L7 flow fails closed, the non-L7 flow works"
start_proxy
[ "$(get 8080/public -o /dev/null)" = " 200" ] || fail "proxy back: L7 flow does not work"
ok "proxy back: GET /public -> 200 again"

kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null; PROXY_PID=""
ip netns exec "$N" "$PROXY" --uninstall-redirect || fail "uninstall"
ip netns exec "$N" ip rule | grep -q "lookup 2004" && fail "ip rule left behind"
ip netns exec "$N" ip route show table 2004 2>/dev/null | grep -q . && fail "table 2004 left behind"
ip netns exec "$N" iptables -w -t mangle -S | grep -q MEMBRANE_PROXY && fail "chain left behind"
ok "--uninstall-redirect leaves nothing"
echo PASS
