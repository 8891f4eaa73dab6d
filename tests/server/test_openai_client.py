"""The official `openai` npm client runs unchanged against /v1/embeddings. The package is
installed once into OMEGA_NODE_CACHE (default build/node-cache); skips (exit 77) when node
or npm is missing or the registry cannot be reached."""
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from omega_test_server import Server  # noqa: E402

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


if __name__ == "__main__":
    why = ensure_client()
    if why:
        print("SKIP:", why)
        sys.exit(77)
    unittest.main(verbosity=2)
