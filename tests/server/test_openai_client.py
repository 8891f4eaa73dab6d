"""The official `openai` npm client runs unchanged against /v1/embeddings. The package is
installed once into OMEGA_NODE_CACHE (default build/node-cache); skips (exit 77) when node
or npm is missing or the registry cannot be reached."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from omega_test_server import Server, make_tls  # noqa: E402

OPENAI_VERSION = "6.49.0"
HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("OMEGA_NODE_CACHE", os.path.join(os.getcwd(), "node-cache"))


def ensure_client():
    if not shutil.which("node") or not shutil.which("npm"):
        return "node and npm are not installed"
    marker = os.path.join(CACHE, "node_modules", "openai", "package.json")
    if os.path.exists(marker):
        return None
    os.makedirs(CACHE, exist_ok=True)
    r = subprocess.run(["npm", "install", "--prefix", CACHE, "--no-audit", "--no-fund", f"openai@{OPENAI_VERSION}"],
                       capture_output=True, timeout=300)
    return None if r.returncode == 0 else "npm install openai failed: " + r.stderr.decode()[-300:]


class OpenAIClient(unittest.TestCase):
    def test_official_client(self):
        s = Server()
        try:
            r = subprocess.run(["node", os.path.join(HERE, "openai_client.mjs"), f"http://127.0.0.1:{s.port}/v1", "64",
                                CACHE], capture_output=True, timeout=120)
            self.assertEqual(r.returncode, 0, (r.stdout + r.stderr).decode())
            self.assertIn(b"openai client: ok", r.stdout)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_official_client_over_https_with_a_key(self):
        if not shutil.which("openssl"):
            self.skipTest("the openssl command is not installed")
        d = tempfile.mkdtemp(prefix="omega-openai-tls-")
        ca, cert, key = make_tls(d)
        keys = os.path.join(d, "keys")
        with open(keys, "w") as f:
            f.write("app read openai-client-key-0123456789\n")
        s = Server(env={"OMEGA_TLS_CERT_FILE": cert, "OMEGA_TLS_KEY_FILE": key, "OMEGA_API_KEYS_FILE": keys}, ca=ca)
        try:
            env = dict(os.environ, NODE_EXTRA_CA_CERTS=ca)
            r = subprocess.run(["node", os.path.join(HERE, "openai_client.mjs"), f"https://localhost:{s.port}/v1", "64",
                                CACHE, "openai-client-key-0123456789"], capture_output=True, timeout=120, env=env)
            self.assertEqual(r.returncode, 0, (r.stdout + r.stderr).decode())
            self.assertIn(b"openai client: ok", r.stdout)
            # the same client without the test CA does not trust the server
            env.pop("NODE_EXTRA_CA_CERTS")
            r = subprocess.run(["node", os.path.join(HERE, "openai_client.mjs"), f"https://localhost:{s.port}/v1", "64",
                                CACHE, "openai-client-key-0123456789"], capture_output=True, timeout=120, env=env)
            self.assertNotEqual(r.returncode, 0)
        finally:
            self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    why = ensure_client()
    if why:
        print("SKIP:", why)
        sys.exit(77)
    unittest.main(verbosity=2)
