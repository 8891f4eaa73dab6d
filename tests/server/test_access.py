"""Black-box tests of API keys on the data plane and of signed /invoke answers, against a real
`omega serve`: every route's scope (read, write, HMAC's, public), keys hashed in the file,
hot reload of the keys file, the per-address limit on failed authentications (shared with
HMAC), the metrics, and answers to signed requests signed back with the request's nonce.

  OMEGA_BIN=build/omega OMEGA_GENMODEL=build/omega-genmodel python3 tests/server/test_access.py
"""
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from omega_test_server import Server, sign, verify_response, wait_for  # noqa: E402

READ_KEY = "rk-0123456789abcdef-read"
WRITE_KEY = "wk-0123456789abcdef-write"
HASHED_KEY = "hk-this-key-is-only-stored-hashed"
SECRET = "s3cret-for-access-tests-0123456789"


def keys_file(dirpath, text):
    p = os.path.join(dirpath, "keys")
    with open(p + ".tmp", "w") as f:
        f.write(text)
    os.replace(p + ".tmp", p)  # as a secret manager rotates files: whole, never half-written
    return p


KEYS = (f"# name scope key\nreader read {READ_KEY}\nwriter write {WRITE_KEY}\n"
        f"hashed read sha256:{hashlib.sha256(HASHED_KEY.encode()).hexdigest()}\n")

# (method, path, body, needed): needed is "read", "write", "public" or "hmac"
ROUTES = [
    ("POST", "/embed", {"inputs": "hi"}, "read"),
    ("POST", "/v1/embeddings", {"input": "hi", "model": "m"}, "read"),
    ("POST", "/tokenize", {"inputs": "hi"}, "read"),
    ("GET", "/info", None, "read"),
    ("GET", "/accel/health", None, "read"),
    ("GET", "/collections", None, "read"),
    ("GET", "/collections/docs", None, "read"),
    ("POST", "/collections/docs/search", {"text": "hi", "k": 1}, "read"),
    ("POST", "/collections/docs/upsert", {"points": [{"id": 7, "text": "seven"}]}, "write"),
    ("POST", "/collections/docs/delete", {"ids": [7]}, "write"),
    ("POST", "/collections/docs/compact", {}, "write"),
    ("POST", "/collections/docs/snapshot", {}, "write"),
    ("GET", "/health", None, "public"),
    ("GET", "/ready", None, "public"),
    ("GET", "/metrics", None, "public"),
    ("POST", "/invoke", {"action": "embed", "inputs": ["q"]}, "hmac"),
    ("GET", "/accel/config", None, "hmac"),
]


class Scopes(unittest.TestCase):
    """Each route answers a missing or unknown key 401, a read key on a write route 403, the
    right key as it would without keys; public routes and HMAC's ignore keys."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="omega-access-")
        # a high failure allowance: this class counts answers, not the limiter
        cls.s = Server(env={"OMEGA_API_KEYS_FILE": keys_file(cls.dir, KEYS), "OMEGA_HMAC_SECRET": SECRET,
                            "OMEGA_AUTH_MAX_FAILURES": "100000", "OMEGA_DATA_DIR": cls.dir})
        r = cls.s.post("/collections", {"name": "docs", "dim": 64, "kind": "flat"}, headers=bearer(WRITE_KEY))
        assert r.status == 201, r.body

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def call(self, method, path, body, headers):
        return self.s.request(method, path, body, headers=headers)

    def test_every_route(self):
        for method, path, body, needed in ROUTES:
            with self.subTest(route=f"{method} {path}"):
                missing = self.call(method, path, body, {})
                wrong = self.call(method, path, body, bearer("not-a-key-of-this-server-0000"))
                read = self.call(method, path, body, bearer(READ_KEY))
                write = self.call(method, path, body, bearer(WRITE_KEY))
                hashed = self.call(method, path, body, bearer(HASHED_KEY))
                if needed == "public":
                    for r in (missing, wrong, read, write):
                        self.assertEqual(r.status, 200, r.body)
                    continue
                if needed == "hmac":
                    # keys neither open nor close them: the HMAC signature does
                    for r in (missing, wrong, read, write):
                        self.assertEqual(r.status, 401, r.body)
                        self.assertIn("X-Omega", r.json()["error"])
                    raw = b"" if body is None else json.dumps(body).encode()
                    ok = self.s.request(method, path, raw, headers=sign(SECRET, method, path, raw))
                    self.assertEqual(ok.status, 200, ok.body)
                    continue
                for r, why in ((missing, "required"), (wrong, "unknown API key")):
                    self.assertEqual(r.status, 401, r.body)
                    self.assertEqual(r.json()["error_type"], "unauthorized")
                    self.assertIn(why, r.json()["error"])
                    self.assertEqual(r.headers.get("www-authenticate"), 'Bearer realm="omega"')
                self.assertLess(write.status, 300, write.body)
                if needed == "read":
                    self.assertLess(read.status, 300, read.body)
                    self.assertLess(hashed.status, 300, hashed.body)
                else:
                    for r, name in ((read, "reader"), (hashed, "hashed")):
                        self.assertEqual(r.status, 403, r.body)
                        self.assertEqual(r.json()["error_type"], "forbidden")
                        self.assertIn(f"API key {name} has the read scope", r.json()["error"])

    def test_create_and_drop_need_write(self):
        body = {"name": "other", "dim": 64, "kind": "flat"}
        self.assertEqual(self.s.post("/collections", body, headers=bearer(READ_KEY)).status, 403)
        self.assertEqual(self.s.post("/collections", body, headers=bearer(WRITE_KEY)).status, 201)
        self.assertEqual(self.s.request("DELETE", "/collections/other", headers=bearer(READ_KEY)).status, 403)
        self.assertEqual(self.s.request("DELETE", "/collections/other", headers=bearer(WRITE_KEY)).status, 200)

    def test_header_forms(self):
        self.assertEqual(self.s.post("/embed", {"inputs": "x"}, headers={"Authorization": "bearer " + READ_KEY}).status,
                         200)  # the scheme is case-insensitive
        for value in (READ_KEY, "Basic " + READ_KEY, "Bearer", "Bearer ", "Bearer " + READ_KEY[:-1],
                      "Bearer " + READ_KEY + "x", "Bearer " + "k" * 300):
            with self.subTest(value=value[:40]):
                r = self.s.post("/embed", {"inputs": "x"}, headers={"Authorization": value})
                self.assertEqual(r.status, 401, r.body)

    def test_metrics_count_failures_and_keys(self):
        before = self.s.metric("omega_api_key_requests_total", {"key": "writer"})
        fail = self.s.metric("omega_auth_failures_total", {"reason": "unknown_key"})
        scope = self.s.metric("omega_auth_failures_total", {"reason": "scope"})
        self.s.post("/embed", {"inputs": "x"}, headers=bearer(WRITE_KEY))
        self.s.post("/embed", {"inputs": "x"}, headers=bearer("wrong-key-wrong-key-wrong"))
        self.s.post("/collections/docs/compact", {}, headers=bearer(READ_KEY))
        self.assertEqual(self.s.metric("omega_api_key_requests_total", {"key": "writer"}), before + 1)
        self.assertEqual(self.s.metric("omega_auth_failures_total", {"reason": "unknown_key"}), fail + 1)
        self.assertEqual(self.s.metric("omega_auth_failures_total", {"reason": "scope"}), scope + 1)

    def test_key_never_logged(self):
        self.s.post("/embed", {"inputs": "x"}, headers=bearer("a-wrong-key-that-must-not-be-logged"))
        text = self.s.text()
        for k in (READ_KEY, WRITE_KEY, HASHED_KEY, "a-wrong-key-that-must-not-be-logged"):
            self.assertNotIn(k, text)


def bearer(key):
    return {"Authorization": "Bearer " + key}


class Reload(unittest.TestCase):
    """The keys file is re-read on SIGHUP: a new key works, a revoked one stops, a broken file
    is refused and the keys in use stay."""

    def test_add_revoke_and_broken_file(self):
        d = tempfile.mkdtemp(prefix="omega-access-")
        path = keys_file(d, f"reader read {READ_KEY}\n")
        s = Server(env={"OMEGA_API_KEYS_FILE": path, "OMEGA_AUTH_MAX_FAILURES": "100000"})
        try:
            self.assertEqual(s.post("/embed", {"inputs": "x"}, headers=bearer(READ_KEY)).status, 200)
            self.assertEqual(s.post("/embed", {"inputs": "x"}, headers=bearer(WRITE_KEY)).status, 401)
            keys_file(d, f"writer write {WRITE_KEY}\n")
            failed = s.metric("omega_config_reloads_total", {"result": "failed"})
            s.signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: s.post("/embed", {"inputs": "x"}, headers=bearer(WRITE_KEY)).status == 200))
            self.assertEqual(s.post("/embed", {"inputs": "x"}, headers=bearer(READ_KEY)).status, 401)
            keys_file(d, f"writer write {WRITE_KEY}\nbroken line\n")
            s.signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: "line 2: expected three fields" in s.text()), s.text()[-2000:])
            self.assertEqual(s.metric("omega_config_reloads_total", {"result": "failed"}), failed + 1)
            self.assertEqual(s.post("/embed", {"inputs": "x"}, headers=bearer(WRITE_KEY)).status, 200)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_bad_files_refuse_to_start(self):
        d = tempfile.mkdtemp(prefix="omega-access-")
        cases = {
            "": "no keys",
            "a read short\n": "16-256 printable",
            "a admin " + READ_KEY + "\n": "scope must be read or write",
            "a read " + READ_KEY + "\na write " + WRITE_KEY + "\n": "name a is used twice",
            "a read " + READ_KEY + "\nb write " + READ_KEY + "\n": "same key as a",
            "a read sha256:1234\n": "64 hex digits",
            "bad/name read " + READ_KEY + "\n": "name must be",
        }
        for text, why in cases.items():
            with self.subTest(file=text):
                with self.assertRaises(RuntimeError) as cm:
                    Server(env={"OMEGA_API_KEYS_FILE": keys_file(d, text)})
                self.assertIn(why, str(cm.exception))
                self.assertNotIn(READ_KEY, str(cm.exception))
        with self.assertRaises(RuntimeError) as cm:
            Server(env={"OMEGA_API_KEYS_FILE": os.path.join(d, "absent")})
        self.assertIn("OMEGA_API_KEYS_FILE", str(cm.exception))
        with self.assertRaises(RuntimeError) as cm:
            Server(env={"OMEGA_API_KEYS_FILE": keys_file(d, KEYS), "OMEGA_API_KEYS_PUBLIC": "health,embed"})
        self.assertIn("embed is not one of", str(cm.exception))

    def test_public_endpoints_configurable(self):
        d = tempfile.mkdtemp(prefix="omega-access-")
        s = Server(env={"OMEGA_API_KEYS_FILE": keys_file(d, KEYS), "OMEGA_API_KEYS_PUBLIC": "health,info"},
                   wait_ready=False)
        try:
            self.assertTrue(wait_for(lambda: s.get("/health").status == 200))
            self.assertTrue(wait_for(lambda: s.get("/info").status == 200, 60))
            self.assertEqual(s.get("/ready").status, 401)
            self.assertEqual(s.get("/metrics").status, 401)
            self.assertEqual(s.get("/metrics", headers=bearer(READ_KEY)).status, 200)
        finally:
            self.assertEqual(s.stop(), 0)



class FailureLimit(unittest.TestCase):
    """An address past OMEGA_AUTH_MAX_FAILURES failed authentications a minute gets 429 with
    Retry-After, even with the right key, until its allowance refills; HMAC failures count
    against the same allowance; a success does not use it up."""

    def test_limit_and_refill(self):
        d = tempfile.mkdtemp(prefix="omega-access-")
        s = Server(env={"OMEGA_API_KEYS_FILE": keys_file(d, KEYS), "OMEGA_AUTH_MAX_FAILURES": "60",
                        "OMEGA_HMAC_SECRET": SECRET})
        try:
            for _ in range(30):
                self.assertEqual(s.post("/embed", {"inputs": "x"}, headers=bearer(READ_KEY)).status, 200)
            for i in range(40):
                self.assertEqual(s.post("/embed", {"inputs": "x"}, headers=bearer("guess-%020d" % i)).status, 401)
            body = b'{"action":"embed","inputs":["q"]}'
            for i in range(20):  # forged signatures use up the same allowance
                h = sign("not-the-secret", "POST", "/invoke", body)
                self.assertEqual(s.request("POST", "/invoke", body, headers=h).status, 401)
            limited = s.post("/embed", {"inputs": "x"}, headers=bearer(READ_KEY))
            self.assertEqual(limited.status, 429, limited.body)
            self.assertEqual(limited.json()["error_type"], "too_many_failures")
            self.assertTrue(limited.headers["retry-after"].isdigit())
            self.assertLessEqual(int(limited.headers["retry-after"]), 2)  # 60 a minute: one a second
            signed = s.request("POST", "/invoke", body, headers=sign(SECRET, "POST", "/invoke", body))
            self.assertEqual(signed.status, 429, signed.body)
            self.assertGreaterEqual(s.metric("omega_auth_failures_total", {"reason": "rate_limited"}), 2)
            self.assertEqual(s.get("/health").status, 200)  # public routes are not limited
            time.sleep(1.2)  # one failure refilled
            self.assertEqual(s.post("/embed", {"inputs": "x"}, headers=bearer(READ_KEY)).status, 200)
        finally:
            self.assertEqual(s.stop(), 0)


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


HAPROXY_CFG = """global
    maxconn 200
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend lb
    bind 127.0.0.1:{lb}
    option forwardfor
    default_backend omega
backend omega
    server s1 127.0.0.1:{port}
"""


@unittest.skipUnless(shutil.which("haproxy"), "haproxy is not installed")
class TrustedProxy(unittest.TestCase):
    """Behind a real HAProxy (option forwardfor) every request comes from 127.0.0.1. With
    OMEGA_TRUSTED_PROXIES naming it, failures count against the client HAProxy names (clients
    here connect from 127.0.0.2 and 127.0.0.3, both loopback): one client's bad keys do not
    lock out the other, an X-Forwarded-For a client writes itself changes nothing, and a peer
    that is not a trusted proxy is counted as itself whatever it sends."""

    def via(self, lb, source, key, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", lb, timeout=30, source_address=(source, 0))
        h = {"Content-Type": "application/json", **bearer(key), **(headers or {})}
        c.request("POST", "/embed", body=b'{"inputs":"x"}', headers=h)
        st = c.getresponse().status
        c.close()
        return st

    def test_clients_behind_haproxy_limited_apart(self):
        d = tempfile.mkdtemp(prefix="omega-proxy-")
        s = Server(env={"OMEGA_API_KEYS_FILE": keys_file(d, KEYS), "OMEGA_AUTH_MAX_FAILURES": "3",
                        "OMEGA_TRUSTED_PROXIES": "127.0.0.1"})
        lb = free_port()
        cfg = os.path.join(d, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(lb=lb, port=s.port))
        hap = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def lb_up():
                try:
                    socket.create_connection(("127.0.0.1", lb), timeout=1).close()
                    return True
                except OSError:
                    return False
            wait_for(lb_up, 20)
            self.assertEqual(self.via(lb, "127.0.0.2", READ_KEY), 200)
            # a client's own X-Forwarded-For is to the left of what HAProxy appends: ignored
            for i in range(3):
                self.assertEqual(self.via(lb, "127.0.0.2", "bad-key-%020d" % i,
                                          {"X-Forwarded-For": "127.0.0.%d" % (50 + i)}), 401)
            self.assertEqual(self.via(lb, "127.0.0.2", READ_KEY), 429)
            self.assertEqual(self.via(lb, "127.0.0.2", READ_KEY, {"X-Forwarded-For": "127.0.0.3"}), 429)
            # the other client has its own allowance
            self.assertEqual(self.via(lb, "127.0.0.3", "bad-key-other-000001"), 401)
            self.assertEqual(self.via(lb, "127.0.0.3", READ_KEY), 200)
            # straight to the server from an untrusted address: counted as that address, so
            # naming 127.0.0.3 in the header uses up only its own allowance
            for i in range(4):
                c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30, source_address=("127.0.0.4", 0))
                c.request("POST", "/embed", body=b'{"inputs":"x"}',
                          headers={**bearer("bad-key-direct-%06d" % i), "X-Forwarded-For": "127.0.0.3"})
                self.assertEqual(c.getresponse().status, 401 if i < 3 else 429)
                c.close()
            self.assertEqual(self.via(lb, "127.0.0.3", READ_KEY), 200)
        finally:
            hap.terminate()
            hap.wait(10)
            self.assertEqual(s.stop(), 0)

    def test_bad_list_refuses_to_start(self):
        with self.assertRaises(RuntimeError) as e:
            Server(env={"OMEGA_TRUSTED_PROXIES": "10.0.0.0/8, lb.example"})
        self.assertIn("lb.example", str(e.exception))


class SignedAnswers(unittest.TestCase):
    """Answers to HMAC-authenticated requests carry X-Omega-Timestamp/Nonce/Signature: the
    request's nonce, the status where a request has its method, the body hashed; errors after
    authentication are signed too, refusals of unauthenticated requests are not."""

    @classmethod
    def setUpClass(cls):
        cls.s = Server(env={"OMEGA_HMAC_SECRET": SECRET})

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def invoke(self, body, target="/invoke"):
        raw = json.dumps(body).encode()
        h = sign(SECRET, "POST", target, raw)
        return self.s.request("POST", target, raw, headers=h), h["X-Omega-Nonce"]

    def test_ok_answer_is_signed(self):
        for body in ({"action": "embed", "inputs": ["q", "r"]}, {"action": "embed", "inputs": ["x" * 3000]}):
            r, nonce = self.invoke(body)
            self.assertEqual(r.status, 200, r.body)
            self.assertIsNone(verify_response(SECRET, r, 200, "/invoke", nonce))
            # a client notices any change: another status, target, nonce, body or secret
            self.assertIsNotNone(verify_response(SECRET, r, 201, "/invoke", nonce))
            self.assertIsNotNone(verify_response(SECRET, r, 200, "/invoke?x", nonce))
            self.assertIsNotNone(verify_response("other-secret", r, 200, "/invoke", nonce))
            r.body = r.body[:-2] + b" }"
            self.assertIsNotNone(verify_response(SECRET, r, 200, "/invoke", nonce))

    def test_error_after_authentication_is_signed(self):
        r, nonce = self.invoke({"action": "fly"})
        self.assertEqual(r.status, 422, r.body)
        self.assertIsNone(verify_response(SECRET, r, 422, "/invoke", nonce))
        r, nonce = self.invoke({"action": "embed", "inputs": ["q"]}, target="/invoke?trace=1")
        self.assertIsNone(verify_response(SECRET, r, r.status, "/invoke?trace=1", nonce))

    def test_config_answers_are_signed(self):
        h = sign(SECRET, "GET", "/accel/config", b"")
        r = self.s.request("GET", "/accel/config", b"", headers=h)
        self.assertEqual(r.status, 200)
        self.assertIsNone(verify_response(SECRET, r, 200, "/accel/config", h["X-Omega-Nonce"]))

    def test_refusals_are_not_signed(self):
        body = b'{"action":"embed","inputs":["q"]}'
        r = self.s.request("POST", "/invoke", body, headers=sign("wrong", "POST", "/invoke", body))
        self.assertEqual(r.status, 401)
        self.assertNotIn("x-omega-signature", r.headers)
        self.assertNotIn("x-omega-signature", self.s.post("/embed", {"inputs": "x"}).headers)


if __name__ == "__main__":
    unittest.main(verbosity=2)
