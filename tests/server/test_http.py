"""HTTP hardening of `omega serve`, black-box over raw sockets: request framing (smuggling
shapes, garbage, bad lengths, oversize heads) answered with exactly one JSON error and a
closed connection, connection limits (global, per address, head timeout) that refuse at once
while other clients keep their normal latency, answers held for slow readers, and the Unix
socket path.

  OMEGA_BIN=build/omega OMEGA_GENMODEL=build/omega-genmodel python3 tests/server/test_http.py
"""
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from omega_test_server import OMEGA, Server, small_model  # noqa: E402

OK_HEAD = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
EMBED = b'{"inputs":"hello"}'

# Each case: raw bytes, the status Omega must answer. A smuggled "GET /metrics" rides in
# the body of the framing cases: if it ran, a second response would follow the first.
SMUGGLED = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
CASES = {
    "two Content-Length": (b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 18\r\nContent-Length: 60\r\n\r\n" + EMBED + SMUGGLED, 400),
    "Content-Length and chunked": (b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n12\r\n" + EMBED +
                                   b"\r\n0\r\n\r\n" + SMUGGLED, 400),
    "chunked and Content-Length": (b"POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                   b"Content-Length: 4\r\n\r\n12\r\n" + EMBED + b"\r\n0\r\n\r\n" + SMUGGLED, 400),
    "two Transfer-Encoding": (b"POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED, 400),
    "unknown Transfer-Encoding": (b"POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n" + SMUGGLED,
                                  501),
    "huge header": (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 30000 + b"\r\n\r\n", 431),
    "huge target": (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
}
# Only a connection's first head passes through Omega's own parser; libmicrohttpd answers
# these on later requests (see README: limits of libmicrohttpd 0.9.75).
FIRST_ONLY = {
    "Content-Length with sign": (b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: +18\r\n\r\n" + EMBED, 400),
    "Content-Length list": (b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 18, 18\r\n\r\n" + EMBED, 400),
    "negative Content-Length": (b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
    "binary garbage": (b"\x00\x01\x02\xff\xfe garbage", 400),
    "garbage line": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    "space before colon": (b"GET /health HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    "folded header": (b"GET /health HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
    "HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
}


def exchange(port, data, timeout=5.0, src=None):
    """Send data, read until the server closes (or timeout); (bytes, seconds, closed)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    t0 = time.time()
    s.sendall(data)
    out, closed = b"", False
    try:
        while True:
            c = s.recv(65536)
            if not c:
                closed = True
                break
            out += c
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    s.close()
    return out, time.time() - t0, closed


def responses(raw):
    """Split a byte stream into (status, headers, body) responses by Content-Length."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep:
            out.append((None, {}, raw))
            break
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (l.decode("latin1").partition(":") for l in lines[1:])}
        n = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:n]))
        raw = rest[n:]
    return out


class Framing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server()

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def one_json_error(self, data, status, prefix=b""):
        raw, took, closed = exchange(self.s.port, prefix + data)
        rs = responses(raw)
        if prefix:
            self.assertEqual(rs[0][0], 200, rs)
            rs = rs[1:]
        self.assertEqual(len(rs), 1, f"want exactly one response, got {rs!r}")
        got, headers, body = rs[0]
        self.assertEqual(got, status, rs)
        self.assertEqual(headers.get("content-type"), "application/json")
        self.assertEqual(headers.get("connection"), "close")
        err = json.loads(body)
        self.assertTrue(err["error"] and err["error_type"], err)
        self.assertTrue(closed, "the connection must be closed after a framing error")
        self.assertLess(took, 2.0, "answered at once, not after a timeout")

    def test_first_request(self):
        for name, (data, status) in {**CASES, **FIRST_ONLY}.items():
            with self.subTest(name):
                self.one_json_error(data, status)

    def test_later_request_on_keep_alive(self):
        for name, (data, status) in CASES.items():
            with self.subTest(name):
                self.one_json_error(data, status, prefix=OK_HEAD)

    def test_well_formed_still_served(self):
        chunked = (b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n12\r\n" + EMBED + b"\r\n0\r\n\r\n")
        plain = (b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 18\r\n"
                 b"Connection: close\r\n\r\n" + EMBED)
        # a stray CRLF before the request line is allowed (RFC 9112 2.2); pipelining works
        raw, _, _ = exchange(self.s.port, b"\r\n" + chunked + OK_HEAD + plain)
        self.assertEqual([r[0] for r in responses(raw)], [200, 200, 200])
        # a head that arrives in pieces is waited for
        s = socket.create_connection(("127.0.0.1", self.s.port), timeout=5)
        for piece in (b"GET /hea", b"lth HTTP/1.1\r\nHo", b"st: x\r\n", b"Connection: close\r\n\r\n"):
            s.sendall(piece)
            time.sleep(0.05)
        self.assertEqual(responses(s.recv(4096))[0][0], 200)
        s.close()

    def test_root_is_warned_about(self):
        if os.geteuid() != 0:
            self.skipTest("not running as root")
        self.assertIn("running as root", self.s.text())

    def test_refusals_counted(self):
        before = self.s.metric("omega_http_connections_refused_total", {"reason": "malformed"})
        exchange(self.s.port, b"\x00garbage")
        self.assertEqual(self.s.metric("omega_http_connections_refused_total", {"reason": "malformed"}), before + 1)


class Connections(unittest.TestCase):
    def open_idle(self, port, n, src="127.0.0.1"):
        socks = []
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((src, 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            socks.append(s)
        return socks

    def health_latency(self, port, src="127.0.0.2"):
        raw, took, _ = exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", src=src)
        self.assertEqual(responses(raw)[0][0], 200, raw)
        return took

    def test_idle_flood_does_not_deny_service(self):
        # the probe's case: past 1,024 idle sockets libmicrohttpd's own limit left everyone waiting
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < 1400:
            self.skipTest(f"the open-files limit {hard} is below the 1,100 sockets this test opens")
        if soft != resource.RLIM_INFINITY and soft < 1400:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 4096, hard))
        s = Server(env={"OMEGA_MAX_CONNECTIONS_PER_IP": "0", "OMEGA_HTTP_HEAD_TIMEOUT_MS": "60000"})
        try:
            normal = max(self.health_latency(s.port) for _ in range(5))
            idle = self.open_idle(s.port, 1100)
            time.sleep(0.5)
            self.assertGreaterEqual(s.metric("omega_http_connections"), 1100)
            worst = max(self.health_latency(s.port) for _ in range(20))
            self.assertLess(worst, max(0.5, 10 * normal), f"normal {normal:.3f}s, under the flood {worst:.3f}s")
            for x in idle:
                x.close()
        finally:
            self.assertEqual(s.stop(), 0)

    def test_per_address_limit(self):
        s = Server(env={"OMEGA_MAX_CONNECTIONS_PER_IP": "32", "OMEGA_HTTP_HEAD_TIMEOUT_MS": "60000"})
        try:
            idle = self.open_idle(s.port, 32)
            # the 33rd from the same address: 503 at once, closed
            raw, took, closed = exchange(s.port, b"", src="127.0.0.1")
            rs = responses(raw)
            self.assertEqual(rs[0][0], 503, raw)
            self.assertIn("this address", json.loads(rs[0][2])["error"])
            self.assertTrue(closed)
            self.assertLess(took, 1.0)
            # another address is served at its normal latency
            self.assertLess(self.health_latency(s.port, src="127.0.0.2"), 0.5)
            # a closed one frees its place
            idle.pop().close()
            time.sleep(0.2)
            self.assertLess(self.health_latency(s.port, src="127.0.0.1"), 0.5)
            for x in idle:
                x.close()
            time.sleep(0.2)
            self.assertGreaterEqual(s.metric("omega_http_connections_refused_total", {"reason": "per_address_limit"}), 1)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_global_limit_refuses_at_once(self):
        s = Server(env={"OMEGA_MAX_CONNECTIONS": "64", "OMEGA_MAX_CONNECTIONS_PER_IP": "0",
                        "OMEGA_HTTP_HEAD_TIMEOUT_MS": "60000"})
        try:
            idle = self.open_idle(s.port, 64)
            raw, took, closed = exchange(s.port, OK_HEAD, src="127.0.0.2")
            self.assertEqual(responses(raw)[0][0], 503, raw)
            self.assertTrue(closed)
            self.assertLess(took, 1.0, "refused at once, never left waiting in the backlog")
            for x in idle:
                x.close()
            time.sleep(0.3)
            self.assertLess(self.health_latency(s.port), 0.5)
            self.assertGreaterEqual(s.metric("omega_http_connections_refused_total", {"reason": "limit"}), 1)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_head_timeout(self):
        s = Server(env={"OMEGA_HTTP_HEAD_TIMEOUT_MS": "300"})
        try:
            silent = self.open_idle(s.port, 3)
            partial = self.open_idle(s.port, 1)[0]
            partial.sendall(b"GET /health HTTP/1.1\r\nHo")
            time.sleep(1.0)
            for x in silent + [partial]:
                data = b""
                try:
                    while True:
                        c = x.recv(4096)
                        if not c:
                            break
                        data += c
                except OSError:
                    pass
                self.assertIn(b"408", data.split(b"\r\n", 1)[0])
                x.close()
            self.assertGreaterEqual(s.metric("omega_http_connections_refused_total", {"reason": "head_timeout"}), 4)
            self.assertLess(self.health_latency(s.port), 0.5)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_slow_readers_bounded(self):
        # answers of ~15 MB to clients that read nothing: past the cap, new requests get 503
        s = Server(env={"OMEGA_MAX_HELD_RESPONSE_BYTES": "1048576", "OMEGA_MAX_INPUTS": "20000",
                        "EMBED_QUEUE_CAPACITY": "20000", "OMEGA_MAX_BODY_BYTES": "4194304"})
        try:
            body = json.dumps({"inputs": ["slow reader %d" % i for i in range(20000)]}).encode()
            req = (b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                   % len(body)) + body
            readers = []
            for _ in range(2):
                c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                c.connect(("127.0.0.1", s.port))
                c.sendall(req)
                readers.append(c)
            deadline = time.time() + 30
            while time.time() < deadline and s.metric("omega_http_held_response_bytes") <= 1048576:
                time.sleep(0.1)
            self.assertGreater(s.metric("omega_http_held_response_bytes"), 1048576)
            r = s.post("/embed", {"inputs": "one more"})
            self.assertEqual(r.status, 503)
            self.assertIn("OMEGA_MAX_HELD_RESPONSE_BYTES", r.json()["error"])
            for c in readers:
                c.close()
            deadline = time.time() + 30
            while time.time() < deadline and s.post("/embed", {"inputs": "one more"}).status != 200:
                time.sleep(0.1)
            self.assertEqual(s.post("/embed", {"inputs": "one more"}).status, 200)
            # the last answer is released by the server's completion callback, which may run just
            # after the client has read it: the gauge settles at 0, it need not be there at once
            deadline = time.time() + 10
            while time.time() < deadline and s.metric("omega_http_held_response_bytes") != 0:
                time.sleep(0.05)
            self.assertEqual(s.metric("omega_http_held_response_bytes"), 0)
        finally:
            self.assertEqual(s.stop(), 0)


class UnixSocket(unittest.TestCase):
    def start(self, path):
        e = {k: v for k, v in os.environ.items() if not k.startswith(("OMEGA_", "EMBED_", "ACCEL_"))}
        return subprocess.run([OMEGA, "serve", "--model", small_model(), "--port", "0", "--unix-socket", path],
                              capture_output=True, text=True, timeout=60, env=e)

    def test_regular_file_is_never_deleted(self):
        d = tempfile.mkdtemp(prefix="omega-sock-")
        path = os.path.join(d, "precious")
        with open(path, "w") as f:
            f.write("keep me")
        r = self.start(path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("is not a socket", r.stderr)
        with open(path) as f:
            self.assertEqual(f.read(), "keep me")

    def test_live_socket_is_refused_and_stale_one_replaced(self):
        d = tempfile.mkdtemp(prefix="omega-sock-")
        path = os.path.join(d, "omega.sock")
        live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        live.bind(path)
        live.listen(1)
        r = self.start(path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("another process is serving on it", r.stderr)
        live.close()  # the path stays behind: a stale socket
        self.assertTrue(os.path.exists(path))
        s = Server(["--unix-socket", path])
        try:
            self.assertIn("removed the stale socket", s.text())
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.settimeout(5)
            c.connect(path)
            c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertIn(b"200", c.recv(4096).split(b"\r\n")[0])
            c.close()
        finally:
            self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
