"""Black-box tests of HMAC signing and runtime configuration against a real `omega serve`:
the signed target includes the query string, secrets are used whole however long, the replay
cache is sized from OMEGA_HMAC_MAX_RATE and fails closed when full, and PUT /accel/config
works over a config file broken since it was loaded and leaves an audit line per change.

  OMEGA_BIN=build/omega OMEGA_GENMODEL=build/omega-genmodel python3 tests/server/test_auth.py
"""
import os
import re
import signal
import secrets
import string
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from omega_test_server import Server, sign, wait_for  # noqa: E402

SECRET = "s3cret-for-auth-tests-0123456789"


def settings(s, secret):
    r = s.signed(secret, "GET", "/accel/config", b"")
    assert r.status == 200, r.body
    return {x["name"]: (x["value"], x["source"]) for x in r.json()["settings"]}


class SignedTarget(unittest.TestCase):
    """The signature covers the request target as sent, query string included."""

    @classmethod
    def setUpClass(cls):
        cls.s = Server(env={"OMEGA_HMAC_SECRET": SECRET})

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def send(self, target, signed_for, body=b'{"action":"embed","inputs":["q"]}'):
        return self.s.request("POST", target, body, headers=sign(SECRET, "POST", signed_for, body))

    def test_query_string_is_signed(self):
        self.assertEqual(self.send("/invoke", "/invoke").status, 200)
        r = self.send("/invoke?x=1", "/invoke")
        self.assertEqual(r.status, 401, r.body)
        self.assertIn("bad signature", r.json()["error"])
        self.assertEqual(self.send("/invoke?x=1", "/invoke?x=1").status, 200)
        self.assertEqual(self.send("/invoke?x=1&y=2", "/invoke?y=2&x=1").status, 401)  # not reordered
        self.assertEqual(self.send("/invoke?", "/invoke").status, 401)  # an empty query still counts
        self.assertEqual(self.send("/invoke?", "/invoke?").status, 200)
        get = self.s.request("GET", "/accel/config?verbose=1", b"",
                             headers=sign(SECRET, "GET", "/accel/config", b""))
        self.assertEqual(get.status, 401)
        self.assertEqual(self.s.signed(SECRET, "GET", "/accel/config?verbose=1", b"").status, 200)

    def test_target_is_not_decoded(self):
        # the route is found on the decoded path, but the signature is over the bytes sent
        self.assertEqual(self.send("/inv%6Fke", "/invoke").status, 401)
        self.assertEqual(self.send("/inv%6Fke", "/inv%6Fke").status, 200)


class LongSecrets(unittest.TestCase):
    """The whole secret is the HMAC key (HMAC hashes keys past the 64-byte block), up to the
    4,096 bytes the secret file may hold; Python's hmac module is the reference."""

    def test_key_lengths(self):
        tmp = tempfile.mkdtemp(prefix="omega-keys-")
        alphabet = string.ascii_letters + string.digits + "-_"
        def secret_file(n, name):
            key = "".join(secrets.choice(alphabet) for _ in range(n))
            path = os.path.join(tmp, name)
            with open(path, "w") as f:
                f.write(key + "\n")
            return key, path
        key, path = secret_file(16, "first")
        s = Server(env={"OMEGA_HMAC_SECRET_FILE": path})
        try:
            for n in [1, 64, 65, 1024, 1025, 4096]:
                new_key, new_path = secret_file(n, f"secret-{n}")
                r = s.signed(key, "PUT", "/accel/config", {"OMEGA_HMAC_SECRET_FILE": new_path})
                self.assertEqual(r.status, 200, (n, r.body))
                key = new_key
                r = s.signed(key, "GET", "/accel/config", b"")
                self.assertEqual(r.status, 200, (n, r.body))
                r = s.signed(key, "POST", "/invoke", {"action": "embed", "inputs": ["k"]})
                self.assertEqual(r.status, 200, (n, r.body))
                self.assertEqual(s.signed(key[:-1] + ("a" if key[-1] != "a" else "b"), "GET", "/accel/config",
                                          b"").status, 401, n)  # the last byte counts
                if n > 1024:  # the old 1,024-byte cut
                    self.assertEqual(s.signed(key[:1024], "GET", "/accel/config", b"").status, 401, n)
                if n > 64:  # a long key is not its SHA-256 digest's stand-in by accident of truncation
                    self.assertEqual(s.signed(key[:64], "GET", "/accel/config", b"").status, 401, n)
            _, too_long = secret_file(4097, "too-long")
            r = s.signed(key, "PUT", "/accel/config", {"OMEGA_HMAC_SECRET_FILE": too_long})
            self.assertEqual(r.status, 422, r.body)
            self.assertIn("longer than 4096 bytes", r.json()["error"])
            self.assertEqual(s.signed(key, "GET", "/accel/config", b"").status, 200)  # the old secret holds
            self.assertNotIn(key[:32], s.text())
        finally:
            self.assertEqual(s.stop(), 0)


    def test_rewritten_file_is_read_on_sighup(self):
        path = os.path.join(tempfile.mkdtemp(prefix="omega-rotate-"), "secret")
        with open(path, "w") as f:
            f.write("old-secret-0123456789\n")
        s = Server(env={"OMEGA_HMAC_SECRET_FILE": path})
        try:
            self.assertEqual(s.signed("old-secret-0123456789", "GET", "/accel/config", b"").status, 200)
            with open(path, "w") as f:  # rotated in place: same path, new key
                f.write("new-secret-9876543210\n")
            s.signal(signal.SIGHUP)
            deadline = time.time() + 10
            while time.time() < deadline and s.signed("new-secret-9876543210", "GET", "/accel/config",
                                                      b"").status != 200:
                time.sleep(0.1)
            self.assertEqual(s.signed("new-secret-9876543210", "GET", "/accel/config", b"").status, 200)
            self.assertEqual(s.signed("old-secret-0123456789", "GET", "/accel/config", b"").status, 401)
        finally:
            self.assertEqual(s.stop(), 0)


class ReplayCache(unittest.TestCase):
    """Sized from OMEGA_HMAC_MAX_RATE x (2 x OMEGA_HMAC_WINDOW_S + 1), fail closed when full,
    counted, and resized by a reload without forgetting a live nonce."""

    def test_full_cache_fails_closed_and_counts(self):
        tmp = tempfile.mkdtemp(prefix="omega-nonces-")
        cfg = os.path.join(tmp, "omega.env")
        with open(cfg, "w") as f:
            f.write("OMEGA_HMAC_WINDOW_S=5\nOMEGA_HMAC_MAX_RATE=2\n")
        s = Server(["--config", cfg], env={"OMEGA_HMAC_SECRET": SECRET})
        try:
            cap = 2 * (2 * 5 + 1)
            self.assertEqual(s.metric("omega_auth_nonce_cache_capacity"), cap)
            self.assertIn(f"HMAC replay cache: {cap} nonces", s.text())
            self.assertEqual(s.metric("omega_auth_failures_total", {"reason": "nonce_cache_full"}), 0)
            first = sign(SECRET, "GET", "/accel/config", b"")
            self.assertEqual(s.get("/accel/config", headers=first).status, 200)
            for i in range(cap - 1):
                r = s.signed(SECRET, "GET", "/accel/config", b"")
                self.assertEqual(r.status, 200, (i, r.body))
            self.assertEqual(s.metric("omega_auth_nonce_cache_entries"), cap)
            r = s.signed(SECRET, "GET", "/accel/config", b"")
            self.assertEqual(r.status, 503, r.body)
            self.assertIn("OMEGA_HMAC_MAX_RATE", r.json()["error"])
            self.assertIn("retry-after", r.headers)
            self.assertEqual(s.metric("omega_auth_failures_total", {"reason": "nonce_cache_full"}), 1)
            # a reload with a higher rate grows the cache at once and keeps every live nonce
            with open(cfg + ".tmp", "w") as f:
                f.write("OMEGA_HMAC_WINDOW_S=5\nOMEGA_HMAC_MAX_RATE=10\n")
            os.rename(cfg + ".tmp", cfg)
            self.assertTrue(wait_for(lambda: s.metric("omega_auth_nonce_cache_capacity") == 10 * 11), s.text())
            self.assertEqual(s.signed(SECRET, "GET", "/accel/config", b"").status, 200)
            r = s.get("/accel/config", headers=first)
            self.assertEqual(r.status, 401)
            self.assertIn("nonce already used", r.json()["error"])
            self.assertEqual(s.metric("omega_auth_nonce_cache_entries"), cap + 1)
            # a rate the cache cannot hold is refused whole
            r = s.signed(SECRET, "PUT", "/accel/config", {"OMEGA_HMAC_MAX_RATE": 1048576, "OMEGA_HMAC_WINDOW_S": 86400})
            self.assertEqual(r.status, 422, r.body)
            self.assertIn("replay cache", r.json()["error"])
            self.assertEqual(s.metric("omega_auth_nonce_cache_capacity"), 10 * 11)
        finally:
            self.assertEqual(s.stop(), 0)


class RuntimeChanges(unittest.TestCase):
    def test_put_over_broken_config_file_is_applied_and_logged(self):
        tmp = tempfile.mkdtemp(prefix="omega-rt-")
        cfg = os.path.join(tmp, "omega.env")
        with open(cfg, "w") as f:
            f.write("EMBED_MAX_BATCH=8\nACCEL_TARGET_LAT_MS=200\n")
        s = Server(["--config", cfg], env={"OMEGA_HMAC_SECRET": SECRET})
        try:
            with open(cfg, "w") as f:
                f.write("EMBED_MAX_BATCH=8\nthis line is broken\n")
            self.assertTrue(wait_for(lambda: "config reload (config file changed) rejected" in s.text()))
            r = s.signed(SECRET, "PUT", "/accel/config", {"EMBED_MAX_BATCH": 12})
            self.assertEqual(r.status, 200, r.body)
            v = settings(s, SECRET)
            self.assertEqual(v["EMBED_MAX_BATCH"], ("12", "runtime"))
            self.assertEqual(v["ACCEL_TARGET_LAT_MS"], ("200", "file"))  # the last good file still holds
            self.assertEqual(s.metric("omega_batch_max"), 12)
            who = r"127\.0\.0\.1 port \d+ \(HMAC-authenticated PUT /accel/config\)"
            self.assertRegex(s.text(), r"info\s+runtime change by " + who + r': EMBED_MAX_BATCH "8" -> "12"')
            # a rejected change leaves a line too
            self.assertEqual(s.signed(SECRET, "PUT", "/accel/config", {"OMEGA_PORT": 1}).status, 422)
            self.assertRegex(s.text(), r"warn\s+runtime change by " + who + r" rejected: OMEGA_PORT is restart-only")
            # secrets: rotated, then cleared; the log says (set) and (empty), never the value
            new = "rotated-" + secrets.token_hex(16)
            r = s.signed(SECRET, "PUT", "/accel/config", {"OMEGA_HMAC_SECRET": new})
            self.assertEqual(r.status, 200, r.body)
            self.assertRegex(s.text(), r"runtime change by " + who + r": OMEGA_HMAC_SECRET \(set\) -> \(set\)")
            self.assertEqual(s.signed(SECRET, "GET", "/accel/config", b"").status, 401)
            r = s.signed(new, "PUT", "/accel/config", {"OMEGA_HMAC_SECRET": "", "OMEGA_LOG_LEVEL": "info"})
            self.assertEqual(r.status, 200, r.body)
            self.assertRegex(s.text(), r"runtime change by " + who + r": OMEGA_HMAC_SECRET \(set\) -> \(empty\)")
            self.assertEqual(s.signed(new, "GET", "/accel/config", b"").status, 503)  # no secret: closed
            log = s.text()
            self.assertNotIn(SECRET, log)
            self.assertNotIn(new, log)
            self.assertEqual(len(re.findall(r"runtime change by .*: OMEGA_LOG_LEVEL", log)), 0)  # unchanged: no line
        finally:
            self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
