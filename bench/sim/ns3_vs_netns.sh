#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# ns3_vs_netns.sh MEMBRANE [SCENARIO] [RUNS]: what the ns3 backend predicts for a scenario's
# TCP request-response traffic beside what the netns backend measures with real connections
# on veths for the same items (same scenario, same mode, same run of this script), per item:
# latency p50 / p99 and throughput, and the ratio netns / ns3. RUNS (default 3) netns runs;
# each figure is the median over them (the ns3 backend is deterministic: one run).
# Default scenario: scenarios/three-tier. Needs root. docs/scenarios.md explains the gap.
set -eu
membrane=$1 scenario=${2:-$(dirname "$0")/../../scenarios/three-tier} runs=${3:-3}
. "$(dirname "$0")/../../tests/support/privileged.sh"
require_root "needs root (BPF_PROG_TEST_RUN, namespaces)"
dir=$(mktemp -d /tmp/membrane-ns3-netns-XXXXXX)
trap 'rm -rf "$dir"' EXIT
echo "ns3: $scenario" >&2
"$membrane" sim "$scenario" --backend ns3 -o json >"$dir/ns3.json" 2>"$dir/ns3.err" ||
  { cat "$dir/ns3.err" >&2; exit 1; }
for i in $(seq 1 "$runs"); do
  echo "netns run $i/$runs: $scenario" >&2
  "$membrane" sim "$scenario" --backend netns -o json >"$dir/netns$i.json" 2>"$dir/netns.err" ||
    { cat "$dir/netns.err" >&2; exit 1; }
done
python3 - "$dir" "$runs" <<'PY'
import json, statistics, sys
d, runs = sys.argv[1], int(sys.argv[2])
ns3 = json.load(open(f"{d}/ns3.json"))[0]
nets = [json.load(open(f"{d}/netns{i}.json"))[0] for i in range(1, runs + 1)]
items = {t["index"]: t for t in ns3.get("traffic", [])}
def us(ns): return ns / 1000.0
print(f"scenario {ns3['scenario']}, routing {ns3['routing']}; netns: median of {runs} runs")
print(f"{'item':<5} {'from -> to':<36} {'ns3 p50':>9} {'netns p50':>10} {'ratio':>7} "
      f"{'ns3 p99':>9} {'netns p99':>10} {'ratio':>7} {'ns3 Mbps':>9} {'netns Mbps':>10}")
rows = 0
for f in ns3["flows"]:
    i = f["index"]
    m = [next((g for g in n["flows"] if g["index"] == i), None) for n in nets]
    m = [g for g in m if g]
    if not m:
        continue  # netns measures TCP request-response items only
    med = lambda k: statistics.median(g[k] for g in m)
    t = items.get(i, {})
    name = f"{t.get('from', '?')} -> {t.get('to', '?')}"
    r50 = med("p50_ns") / f["p50_ns"] if f["p50_ns"] else float("nan")
    r99 = med("p99_ns") / f["p99_ns"] if f["p99_ns"] else float("nan")
    print(f"[{i}]   {name:<36} {us(f['p50_ns']):>7.1f}us {us(med('p50_ns')):>8.1f}us {r50:>7.1f} "
          f"{us(f['p99_ns']):>7.1f}us {us(med('p99_ns')):>8.1f}us {r99:>7.1f} "
          f"{f['throughput_bps'] / 1e6:>9.3f} {med('throughput_bps') / 1e6:>10.3f}")
    rows += 1
if rows == 0:
    sys.exit("no TCP request-response item measured by both backends")
PY
