#!/usr/bin/env python3
"""Per-request latency of GET /health on `omega serve`, a new connection per request and one
keep-alive connection, for two builds interleaved (A/B rounds), so the cost of the connection
handling (accepting, the first-head check, the hand-over to libmicrohttpd) is measured against
the build before it on the same machine at the same time.

  bench/http_connect.py OLD_OMEGA NEW_OMEGA MODEL_DIR [ROUNDS] [REQUESTS]
"""
import os
import socket
import subprocess
import sys
import time

REQ_CLOSE = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
REQ_KEEP = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


def serve(binary, model, port):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMEGA_", "EMBED_", "ACCEL_"))}
    p = subprocess.Popen([binary, "serve", "--model", model, "--port", str(port)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise RuntimeError(binary + " did not start")


def measure(port, n):
    fresh, keep = [], []
    for _ in range(n):
        t = time.perf_counter()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(REQ_CLOSE)
        while s.recv(4096):
            pass
        s.close()
        fresh.append(time.perf_counter() - t)
    s = socket.create_connection(("127.0.0.1", port))
    for _ in range(n):
        t = time.perf_counter()
        s.sendall(REQ_KEEP)
        got = b""
        while not got.endswith(b'{"status":"ok"}'):
            got += s.recv(4096)
        keep.append(time.perf_counter() - t)
    s.close()
    return sorted(fresh), sorted(keep)


def q(v, p):
    return v[min(len(v) - 1, int(len(v) * p))] * 1e6


def main():
    old, new, model = sys.argv[1:4]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 3000
    print("| round | build | new connection p50 / p99 (us) | keep-alive p50 / p99 (us) |")
    print("|---|---|---|---|")
    for r in range(1, rounds + 1):
        for name, binary in (("before", old), ("after", new)):
            p = serve(binary, model, 18190)
            try:
                fresh, keep = measure(18190, n)
            finally:
                p.terminate()
                p.wait()
            print(f"| {r} | {name} | {q(fresh, .5):.0f} / {q(fresh, .99):.0f} | {q(keep, .5):.0f} / {q(keep, .99):.0f} |")


if __name__ == "__main__":
    main()
