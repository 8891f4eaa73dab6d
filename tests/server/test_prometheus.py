"""A real Prometheus server (Debian's `prometheus`) scrapes omega serve; the series must
arrive, as Prometheus' own HTTP API shows them. Skips (exit 77) when prometheus is absent."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from omega_test_server import Server  # noqa: E402

PROMETHEUS = shutil.which("prometheus")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Prometheus(unittest.TestCase):
    def test_scraped_series_arrive(self):
        omega = Server(["--set", "EMBED_QUEUE_CAPACITY=777"])
        tmp = tempfile.mkdtemp(prefix="omega-prom-")
        port = free_port()
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: omega\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{omega.port}']\n")
        prom = subprocess.Popen([PROMETHEUS, f"--config.file={tmp}/prometheus.yml", f"--storage.tsdb.path={tmp}/data",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "prom.log"), "w"))
        api = f"http://127.0.0.1:{port}/api/v1"

        def query(q):
            with urllib.request.urlopen(f"{api}/query?query={urllib.parse.quote(q)}", timeout=5) as r:
                return json.load(r)["data"]["result"]

        try:
            for i in range(5):
                self.assertEqual(omega.post("/embed", {"inputs": [f"scrape me {i}", "and me"]}).status, 200)
            want = {
                'up{job="omega"}': lambda v: v == 1,
                'omega_embed_route_total{route="cpu"}': lambda v: v >= 5,
                'omega_http_requests_total{endpoint="embed",status="200"}': lambda v: v >= 5,
                'omega_embed_latency_ms_count': lambda v: v >= 5,
                'omega_embed_batch_size_bucket{le="+Inf"}': lambda v: v >= 1,
                'omega_embed_cuda_oom_total': lambda v: v == 0,
                'omega_maybe_async_routed_total{route="async"}': lambda v: v >= 5,
                'omega_build_info': lambda v: v == 1,
                'omega_process_resident_memory_bytes': lambda v: v > 1e6,
                # exported on glibc (under ASan, which bypasses glibc's heap, near 0; tests/core/test_heap)
                'omega_process_heap_bytes{state="in_use"}': lambda v: v >= 0,
                'omega_process_heap_bytes{state="free"}': lambda v: v >= 0,
                'omega_batch_ceiling': lambda v: v >= 1,
                'omega_ready': lambda v: v == 1,
                # the queue's bound, for saturation alerts (ops/prometheus), follows the setting
                'omega_queue_capacity': lambda v: v == 777,
                # the 15 ms p95 SLO is a bucket boundary, so histogram_quantile resolves it
                'omega_embed_latency_ms_bucket{le="15"}': lambda v: v >= 0,
            }
            seen, end = {}, time.time() + 60
            while time.time() < end and len(seen) < len(want):
                try:
                    for q, ok in want.items():
                        res = query(q)
                        if res and ok(float(res[0]["value"][1])):
                            seen[q] = res[0]["value"][1]
                except OSError:
                    pass
                time.sleep(0.5)
            self.assertEqual(sorted(seen), sorted(want), f"missing: {set(want) - set(seen)}")
            with urllib.request.urlopen(f"{api}/targets", timeout=5) as r:
                targets = json.load(r)["data"]["activeTargets"]
            self.assertEqual(targets[0]["health"], "up")
            self.assertEqual(targets[0]["lastError"], "")
        finally:
            prom.terminate()
            prom.wait(30)
            self.assertEqual(omega.stop(), 0)


if __name__ == "__main__":
    if not PROMETHEUS:
        print("SKIP: prometheus is not installed (apt-get install prometheus)")
        sys.exit(77)
    unittest.main(verbosity=2)
