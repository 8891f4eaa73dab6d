"""Black-box tests of HTTPS against a real `omega serve`, with a test CA made here by the
openssl command: Python's ssl and curl verify the certificate; the certificate is replaced on
SIGHUP without a restart (new handshakes see the new one, an open connection keeps working);
a broken replacement is refused and the old certificate stays; a plain-HTTP client is told to
use https; mismatched or missing files refuse to start; TLS 1.1 is refused; API keys work
over it. Skips (77) without the openssl or curl commands.

  OMEGA_BIN=build/omega OMEGA_GENMODEL=build/omega-genmodel python3 tests/server/test_tls.py
"""
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from omega_test_server import Server, make_tls, raw_request, wait_for  # noqa: E402

KEY = "tls-test-key-0123456789abcdef"


def peer_cn(port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return dict(x[0] for x in s.getpeercert()["subject"])["commonName"]



class HTTPS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="omega-tls-")
        cls.ca, cert, key = make_tls(cls.dir, "first")
        cls.cert = os.path.join(cls.dir, "server.pem")
        cls.key = os.path.join(cls.dir, "server.key")
        shutil.copy(cert, cls.cert)
        shutil.copy(key, cls.key)
        keys = os.path.join(cls.dir, "keys")
        with open(keys, "w") as f:
            f.write(f"client read {KEY}\n")
        cls.s = Server(env={"OMEGA_TLS_CERT_FILE": cls.cert, "OMEGA_TLS_KEY_FILE": cls.key,
                            "OMEGA_API_KEYS_FILE": keys}, ca=cls.ca, api_key=KEY)

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def replace(self, cn):
        _, cert, key = make_tls(self.dir, cn, ca=(os.path.join(self.dir, "ca.key"), self.ca))
        # each file replaced whole, as cert-manager and certbot do
        shutil.copy(key, self.key + ".tmp")
        shutil.copy(cert, self.cert + ".tmp")
        os.replace(self.key + ".tmp", self.key)
        os.replace(self.cert + ".tmp", self.cert)

    def test_a_python_client(self):
        self.assertIn("listening on https://", self.s.text())
        r = self.s.post("/embed", {"inputs": ["hello", "world"]})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(len(r.json()), 2)
        self.assertEqual(self.s.post("/embed", {"inputs": "x"}, headers={"Authorization": "Bearer nope-nope-nope-nope"})
                         .status, 401)
        expiry = self.s.metric("omega_tls_certificate_expiry_timestamp_seconds")
        self.assertTrue(time.time() < expiry < time.time() + 2 * 86400, expiry)

    def test_b_curl(self):
        if not shutil.which("curl"):
            self.skipTest("curl is not installed")
        url = f"https://localhost:{self.s.port}/embed"
        r = subprocess.run(["curl", "-sS", "--fail-with-body", "--cacert", self.ca, "-H", "Authorization: Bearer " + KEY,
                            "-H", "Content-Type: application/json", "-d", '{"inputs":"hi"}', url],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(b"[["), r.stdout[:100])
        # without the CA the certificate does not verify
        r = subprocess.run(["curl", "-sS", url, "-d", "{}"], capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"certificate", r.stderr.lower())
        # an old protocol version is refused
        r = subprocess.run(["curl", "-sS", "--cacert", self.ca, "--tlsv1.1", "--tls-max", "1.1",
                            f"https://localhost:{self.s.port}/health"], capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)

    def test_c_plain_http_is_told(self):
        line = raw_request(self.s.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(line, b"HTTP/1.1 400 Bad Request")
        conn = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=10)
        conn.request("GET", "/health")
        r = conn.getresponse()
        self.assertIn(b"use an https:// URL", r.read())

    def test_d_rotation_on_sighup(self):
        self.assertEqual(peer_cn(self.s.port, self.ca), "first")
        keep = self.s.connection()  # a keep-alive connection made with the first certificate
        self.assertEqual(self.s.request("GET", "/health", conn=keep).status, 200)
        self.replace("second")
        self.s.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: peer_cn(self.s.port, self.ca) == "second"), self.s.text()[-2000:])
        self.assertEqual(self.s.request("GET", "/health", conn=keep).status, 200)
        self.assertEqual(self.s.metric("omega_tls_certificate_reloads_total", {"result": "changed"}), 1)
        # a broken replacement is refused; the second certificate stays in use
        with open(self.cert, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
        self.s.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: self.s.metric("omega_tls_certificate_reloads_total", {"result": "rejected"}) == 1))
        self.assertIn("TLS: keeping the certificate in use: TLS: cannot read the certificate chain", self.s.text())
        self.assertEqual(peer_cn(self.s.port, self.ca), "second")
        self.assertEqual(self.s.post("/embed", {"inputs": "x"}).status, 200)
        self.replace("third")
        self.s.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: peer_cn(self.s.port, self.ca) == "third"))
        keep.close()


class StartUp(unittest.TestCase):
    def test_bad_files_refuse_to_start(self):
        d = tempfile.mkdtemp(prefix="omega-tls-")
        ca, cert, key = make_tls(d, "one")
        _, cert2, key2 = make_tls(d, "two", ca=(os.path.join(d, "ca.key"), ca))
        cases = [
            ({"OMEGA_TLS_CERT_FILE": cert}, "set both OMEGA_TLS_CERT_FILE and OMEGA_TLS_KEY_FILE"),
            ({"OMEGA_TLS_CERT_FILE": cert, "OMEGA_TLS_KEY_FILE": key2}, "is not the key of the certificate"),
            ({"OMEGA_TLS_CERT_FILE": key, "OMEGA_TLS_KEY_FILE": key}, "cannot read the certificate chain"),
            ({"OMEGA_TLS_CERT_FILE": cert, "OMEGA_TLS_KEY_FILE": cert}, "cannot read the private key"),
            ({"OMEGA_TLS_CERT_FILE": os.path.join(d, "absent"), "OMEGA_TLS_KEY_FILE": key}, "OMEGA_TLS_CERT_FILE"),
        ]
        for env, why in cases:
            with self.subTest(why=why):
                with self.assertRaises(RuntimeError) as cm:
                    Server(env=env, wait_ready=False)
                self.assertIn(why, str(cm.exception))


if __name__ == "__main__":
    if not shutil.which("openssl"):
        print("SKIP: the openssl command is not installed")
        sys.exit(77)
    unittest.main(verbosity=2)
