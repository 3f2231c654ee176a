#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# membrane-agent benchmark (docs/agent.md): restart-to-ready with N endpoints (SIGTERM, start,
# first /healthz 200), and resident memory per endpoint, each as a ratio to a baseline
# measured in the same run: agent_load_only, a process that only loads the BPF objects.
# Usage (root): agent_bench.py BUILD_DIR [N...]     (default N: 100 1000)
# Everything lives in namespaces and a bpffs mount of this run, removed at the end. The
# endpoints share one pod namespace (interfaces eth0..ethN): what is measured is the agent's
# work, not namespace creation.
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("agent", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def call(sock, method, path, body=None):
    c = UnixHTTP(sock)
    c.request(method, path, body=json.dumps(body) if body is not None else None)
    r = c.getresponse()
    data = json.loads(r.read() or b"{}")
    c.close()
    return r.status, data


def healthy(sock):
    try:
        return call(sock, "GET", "/healthz")[0] == 200
    except OSError:
        return False


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def sh(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


class Node:
    def __init__(self, build, tmp, prefix):
        self.build, self.tmp, self.p = build, tmp, prefix
        self.sock = f"{tmp}/agent.sock"
        self.proc = None
        for ns in ("n", "p"):
            sh("ip", "netns", "add", prefix + ns)
        n = prefix + "n"
        sh("ip", "-n", n, "link", "add", "uplink", "type", "veth", "peer", "name", "uplink-peer")
        sh("ip", "-n", n, "addr", "add", "192.168.98.2/32", "dev", "uplink")
        sh("ip", "-n", n, "link", "set", "uplink", "up")
        os.makedirs(f"{tmp}/bpf")
        os.makedirs(f"{tmp}/man")
        sh("mount", "-t", "bpf", "bpf", f"{tmp}/bpf")

    def start(self, max_endpoints):
        args = ["nsenter", f"--net=/run/netns/{self.p}n", f"{self.build}/cmd/membrane-agent",
                "--node-name", "node-1", "--node-ip", "192.168.98.2", "--pod-cidr", "10.98.0.0/20",
                "--state-dir", f"{self.tmp}/state", "--bpffs-dir", f"{self.tmp}/bpf/membrane",
                "--socket", self.sock, "--manifests", f"{self.tmp}/man",
                "--max-endpoints", str(max_endpoints)]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(args, stderr=open(f"{self.tmp}/agent.log", "a"))
        while not healthy(self.sock):
            if self.proc.poll() is not None:
                raise RuntimeError("agent exited: " + open(f"{self.tmp}/agent.log").read())
            time.sleep(0.001)
        return time.monotonic() - t0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        subprocess.run(["nsenter", f"--net=/run/netns/{self.p}n",
                        f"{self.build}/cmd/membrane-agent", "--uninstall", "--node-name", "node-1",
                        "--node-ip", "192.168.98.2", "--pod-cidr", "10.98.0.0/20", "--state-dir",
                        f"{self.tmp}/state", "--bpffs-dir", f"{self.tmp}/bpf/membrane", "--socket",
                        self.sock, "--manifests", f"{self.tmp}/man"],
                       stderr=subprocess.DEVNULL)
        for ns in ("n", "p"):
            subprocess.run(["ip", "netns", "del", self.p + ns], stderr=subprocess.DEVNULL)
        subprocess.run(["umount", f"{self.tmp}/bpf"], stderr=subprocess.DEVNULL)


def baseline(build, max_endpoints):
    out = subprocess.run([f"{build}/bench/agent/agent_load_only", str(max_endpoints)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def run(build, n):
    tmp = tempfile.mkdtemp(prefix="membrane-agent-bench-")
    node = Node(build, tmp, f"mbb{os.getpid() % 100000}")
    max_ep = max(1024, n + 16)
    try:
        base = baseline(build, max_ep)
        cold = node.start(max_ep)
        rss0 = rss_kb(node.proc.pid)
        t0 = time.monotonic()
        for i in range(n):
            st, body = call(node.sock, "PUT", f"/v1/endpoints/bench{i}",
                            {"ifname": f"eth{i}", "netns": f"/run/netns/{node.p}p",
                             "labels": {"app": f"a{i % 10}"}})
            if st != 201:
                raise RuntimeError(f"PUT {i}: {st} {body}")
        create_s = time.monotonic() - t0
        rss_n = rss_kb(node.proc.pid)
        node.stop()
        restart = node.start(max_ep)
        st, status = call(node.sock, "GET", "/status")
        assert status["endpoints"] == n, status
        return {"endpoints": n, "baseline_load_ms": base["load_ms"],
                "baseline_rss_kb": base["rss_kb"], "cold_start_ms": cold * 1000,
                "create_ms_per_endpoint": create_s * 1000 / n,
                "restart_to_ready_ms": restart * 1000,
                "restart_ratio": restart * 1000 / base["load_ms"],
                "rss_kb_0": rss0, "rss_kb_n": rss_n,
                "rss_kb_per_endpoint": (rss_n - rss0) / n,
                "rss_ratio": rss_n / base["rss_kb"]}
    finally:
        node.cleanup()
        subprocess.run(["rm", "-rf", tmp])


def main():
    if os.geteuid() != 0:
        print("skip: needs root")
        return 77
    build = os.path.abspath(sys.argv[1])
    sizes = [int(x) for x in sys.argv[2:]] or [100, 1000]
    print(f"{'endpoints':>9} {'base load':>10} {'cold start':>10} {'create/ep':>10} "
          f"{'restart':>10} {'x base':>7} {'RSS 0':>8} {'RSS N':>8} {'KiB/ep':>7} {'x base RSS':>10}")
    for n in sizes:
        r = run(build, n)
        print(f"{r['endpoints']:>9} {r['baseline_load_ms']:>8.1f}ms {r['cold_start_ms']:>8.1f}ms "
              f"{r['create_ms_per_endpoint']:>8.2f}ms {r['restart_to_ready_ms']:>8.1f}ms "
              f"{r['restart_ratio']:>7.2f} {r['rss_kb_0']:>6}KiB {r['rss_kb_n']:>6}KiB "
              f"{r['rss_kb_per_endpoint']:>7.1f} {r['rss_ratio']:>10.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
