#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Traffic for the agent daemon tests, run inside pod namespaces (ip netns exec).
#   serve PORT             accept connections; read each to EOF checking the byte pattern
#                          (byte i == i % 251), answer "OK <n>" or "BAD <offset>"
#   probe IP PORT [SEC]    connect, send 1 byte, expect "OK 1": exit 0, else exit 1
#   stream IP PORT SEC OUT one connection sending the pattern for SEC seconds; writes
#                          "sent <n> reply <reply>" to OUT; exit 0 when every byte arrived
import socket
import sys
import threading
import time

PATTERN = bytes(i % 251 for i in range(251 * 64))


def handle(conn):
    n = 0
    bad = -1
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            for i, b in enumerate(data):
                if bad < 0 and b != (n + i) % 251:
                    bad = n + i
            n += len(data)
        conn.sendall((f"OK {n}\n" if bad < 0 else f"BAD {bad}\n").encode())


def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(128)
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def probe(ip, port, timeout):
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(PATTERN[:1])
            s.shutdown(socket.SHUT_WR)
            return 0 if s.recv(64).startswith(b"OK 1") else 1
    except OSError:
        return 1


def stream(ip, port, seconds, out):
    sent = 0
    reply = "none"
    try:
        with socket.create_connection((ip, port), timeout=5) as s:
            s.settimeout(30)
            end = time.time() + seconds
            chunk = 4096
            while time.time() < end:
                off = sent % 251
                s.sendall(PATTERN[off:off + chunk])
                sent += chunk
                time.sleep(0.002)
            s.shutdown(socket.SHUT_WR)
            reply = s.recv(64).decode().strip()
    except OSError as e:
        reply = f"error {e}"
    with open(out, "w") as f:
        f.write(f"sent {sent} reply {reply}\n")
    return 0 if reply == f"OK {sent}" else 1


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(int(sys.argv[2]))
    elif cmd == "probe":
        sys.exit(probe(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 1.0))
    elif cmd == "stream":
        sys.exit(stream(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]))
    sys.exit(2)
