"""Helpers for black-box tests against a real `omega serve` process (Python stdlib only)."""
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

OMEGA = os.environ.get("OMEGA_BIN", "build/omega")
GENMODEL = os.environ.get("OMEGA_GENMODEL", "build/omega-genmodel")

_model_dir = None


def small_model():
    """A small generated model (max_seq_length 32), made once per test process."""
    global _model_dir
    if _model_dir is None:
        _model_dir = tempfile.mkdtemp(prefix="omega-srv-model-")
        subprocess.run([GENMODEL, "--out", _model_dir, "--hidden", "64", "--layers", "2", "--heads", "2",
                        "--intermediate", "128", "--max-seq-length", "32", "--seed", "11"],
                       check=True, stderr=subprocess.DEVNULL)
    return _model_dir


def sign(secret, method, target, body, ts=None, nonce=None):
    """The X-Omega-* headers for a request, exactly as the README documents the scheme. target:
    the request target as it goes on the request line, query string included."""
    ts = str(int(time.time()) if ts is None else ts)
    nonce = nonce or secrets.token_urlsafe(24)
    body_hash = hashlib.sha256(body).hexdigest()
    msg = f"{ts}\n{nonce}\n{method}\n{target}\n{body_hash}".encode()
    key = secret.encode() if isinstance(secret, str) else secret
    sig = hmac.new(key, msg, hashlib.sha256).hexdigest()
    return {"X-Omega-Timestamp": ts, "X-Omega-Nonce": nonce, "X-Omega-Signature": "v1=" + sig}


def wait_for(cond, timeout=10):
    """Poll cond every 50 ms until it holds (True) or timeout seconds pass (False)."""
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def verify_response(secret, resp, method_status, target, nonce):
    """Check an answer's X-Omega-* signature (auth.h: "RESPONSE <status>" where a request has
    its method, the request's nonce echoed); returns a reason or None when it is good."""
    h = resp.headers
    if h.get("x-omega-nonce") != nonce:
        return "nonce %r is not the request's %r" % (h.get("x-omega-nonce"), nonce)
    ts = h.get("x-omega-timestamp", "")
    if not ts.isdigit() or abs(int(ts) - time.time()) > 5:
        return "timestamp %r" % ts
    want = sign(secret, "RESPONSE %d" % method_status, target, resp.body, ts=ts, nonce=nonce)["X-Omega-Signature"]
    if not hmac.compare_digest(h.get("x-omega-signature", ""), want):
        return "signature %r != %r" % (h.get("x-omega-signature"), want)
    return None


def make_tls(dirpath, cn="omega-test", ca=None):
    """A test CA (made once per directory, or reused from ca) and a server certificate for
    127.0.0.1 and localhost signed by it, with the openssl command. Returns (ca_cert, cert, key)."""
    ca_key, ca_cert = ca or (os.path.join(dirpath, "ca.key"), os.path.join(dirpath, "ca.pem"))
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    if not os.path.exists(ca_cert):
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", ca_key, "-out", ca_cert, "-days", "2", "-subj", "/CN=omega test CA")
    key, csr, cert = (os.path.join(dirpath, cn + x) for x in (".key", ".csr", ".pem"))
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
        "-out", csr, "-subj", "/CN=" + cn)
    ext = os.path.join(dirpath, cn + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "1", "-extfile", ext)
    return ca_cert, cert, key


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


class Server:
    """An `omega serve` child process on a free port."""

    def __init__(self, args=(), env=None, wait_ready=True, model=None, ca=None, api_key=None):
        """ca: the CA file of an HTTPS server (OMEGA_TLS_* in env); api_key: sent as Bearer
        with every request that does not set Authorization itself."""
        self.ca, self.api_key = ca, api_key
        self.dir = tempfile.mkdtemp(prefix="omega-srv-")
        self.log_path = os.path.join(self.dir, "server.log")
        e = {k: v for k, v in os.environ.items() if not k.startswith(("OMEGA_", "EMBED_", "ACCEL_"))}
        # fp32 unless a test asks otherwise: the default, auto, picks by timing, and tests
        # compare bytes across servers; auto's own tests (test_server CpuPrecision) set it
        e.update({"EMBED_CPU_PRECISION": "fp32", "EMBED_CPU_AUTO_CACHE_DIR": os.path.join(self.dir, "cache")})
        e.update(env or {})
        self.log = open(self.log_path, "w+")
        cmd = [OMEGA, "serve", "--model", model or small_model(), "--port", "0"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=e)
        try:
            self.port = self._wait_port()
        except RuntimeError:
            self.log.close()
            raise
        if wait_ready:
            self.wait_ready()

    def _wait_port(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            m = re.search(r"listening on https?://[^:]+:(\d+)", self.text())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError("omega serve exited: " + self.text())
            time.sleep(0.02)
        raise RuntimeError("omega serve did not start: " + self.text())

    def wait_ready(self, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            try:
                if self.get("/ready").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("not ready: " + self.text())

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def connection(self, timeout=30):
        if self.ca:
            ctx = ssl.create_default_context(cafile=self.ca)
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=30, conn=None):
        own = conn is None
        conn = conn or self.connection(timeout)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        h = {"Content-Type": "application/json"}
        if self.api_key:
            h["Authorization"] = "Bearer " + self.api_key
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        if own:
            conn.close()
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def signed(self, secret, method, target, body, **kw):
        raw = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or b"")
        if isinstance(raw, str):
            raw = raw.encode()
        headers = sign(secret, method, target, raw)
        headers.update(kw.pop("headers", {}))
        return self.request(method, target, raw, headers=headers, **kw)

    def metric(self, name, labels=None):
        """The value of one series from /metrics (0 when absent)."""
        text = self.get("/metrics").body.decode()
        want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
        for line in text.splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        return 0.0

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        """SIGTERM and the exit status; a non-zero one prints the server's log, so a
        failure (a sanitizer report, a drain that timed out) explains itself."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        if rc != 0:
            sys.stderr.write(f"omega serve exited with {rc}; its log ends:\n{self.text()[-6000:]}\n")
        return rc


def raw_request(port, data, read=True, timeout=10):
    """Send raw bytes on a fresh connection; returns the status line or b''."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    if read:
        try:
            while b"\r\n" not in out:
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
        except OSError:
            pass
    s.close()
    return out.split(b"\r\n", 1)[0]


def run_threads(n, fn):
    results = [None] * n
    def wrap(i):
        try:
            results[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - reported by the caller
            results[i] = e
    th = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    return results
