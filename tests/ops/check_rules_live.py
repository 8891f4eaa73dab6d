#!/usr/bin/env python3
"""The Prometheus rules against real series: a real Prometheus (Debian's `prometheus`) loads
ops/prometheus/*.yml and scrapes three live `omega serve` instances every second:

  oom:    a simulated GPU with cuda_oom:1 (every GPU batch hits OOM and falls back to the CPU)
  sticky: a simulated GPU; cuda_sticky:once set at run time (PUT /accel/config): the next GPU
          batch loses the context
  cpu:    no GPU at all

After a few embeddings each, Prometheus' own API must show: OmegaCUDAOOM firing on oom;
OmegaGPUStickyError firing on sticky; OmegaGPUNeedsRestart and OmegaCPUFallbackRatioHigh
pending on sticky (their `for` is minutes); OmegaCPUFallbackRatioHigh pending on oom; no alert
at all on cpu (a CPU-only instance reports omega_gpu_healthy 0 and must not page); and the
per-instance recording rules with values for every instance. So the rules' label matching
(on (job, instance), the route, event and backend labels) holds on what Omega really exports.

usage: check_rules_live.py --rules-dir ops/prometheus --omega BIN --genmodel BIN
Exit 0 when all hold, 1 otherwise, 77 (skip) when prometheus is not installed."""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request


SECRET = "rules-live-check-secret-0123456789abcdef"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rules-dir", required=True)
    ap.add_argument("--omega", required=True)
    ap.add_argument("--genmodel", required=True)
    ap.add_argument("--prometheus", default=shutil.which("prometheus"))
    ap.add_argument("--timeout", type=float, default=60, help="seconds to wait for the expected state")
    a = ap.parse_args()
    if not a.prometheus:
        print("SKIP: prometheus is not installed (apt-get install prometheus)")
        return 77
    os.environ["OMEGA_BIN"], os.environ["OMEGA_GENMODEL"] = a.omega, a.genmodel
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
    import omega_test_server  # noqa: E402
    from omega_test_server import Server  # noqa: E402

    tmp = tempfile.mkdtemp(prefix="omega-rules-live-")
    servers, prom, errors = {}, None, []
    try:
        servers["oom"] = Server(env={"OMEGA_FAULT_INJECT": "gpu_sim:1,cuda_oom:1"})
        # the sticky error is injected once Prometheus scrapes (a start-up one would happen at warm-up,
        # before any scrape: the counter's first sample, no increase; OmegaGPUNeedsRestart catches that)
        servers["sticky"] = Server(env={"OMEGA_FAULT_INJECT": "gpu_sim:1", "OMEGA_HMAC_SECRET": SECRET})
        servers["cpu"] = Server()
        inst = {name: f"127.0.0.1:{s.port}" for name, s in servers.items()}
        rules = [os.path.abspath(os.path.join(a.rules_dir, f))
                 for f in ("omega-recording-rules.yml", "omega-accel-alerts.yml")]
        port = free_port()
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                    "rule_files:\n" + "".join(f"  - {r}\n" for r in rules) +
                    "scrape_configs:\n  - job_name: omega\n    static_configs:\n"
                    f"      - targets: {json.dumps(list(inst.values()))}\n")
        prom = subprocess.Popen([a.prometheus, f"--config.file={tmp}/prometheus.yml", f"--storage.tsdb.path={tmp}/data",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "prom.log"), "w"))
        api = f"http://127.0.0.1:{port}/api/v1"

        def get(path):
            with urllib.request.urlopen(api + path, timeout=5) as r:
                return json.load(r)["data"]

        def query(q):
            return get("/query?query=" + urllib.parse.quote(q))["result"]

        # Prometheus must have the counters at 0 before the traffic: the first sample of a
        # series is no increase
        end = time.time() + a.timeout
        while time.time() < end:
            try:
                if len(query("up == 1")) == len(inst) and len(query("count_over_time(up[1m]) >= 2")) == len(inst):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            errors.append("Prometheus did not scrape the three instances twice")
        r = servers["sticky"].signed(SECRET, "PUT", "/accel/config", {"OMEGA_FAULT_INJECT": "gpu_sim:1,cuda_sticky:once"})
        if r.status != 200:
            errors.append(f"PUT /accel/config OMEGA_FAULT_INJECT: {r.status} {r.body[:200]}")
        # traffic: a few embeddings on each, spread over a few scrapes
        for i in range(6):
            for name, s in servers.items():
                r = s.post("/embed", {"inputs": [f"text {i} for {name}", "another one"]})
                if r.status != 200:
                    errors.append(f"{name}: /embed answered {r.status}: {r.body[:200]}")
            time.sleep(0.5)

        want_alerts = {("OmegaCUDAOOM", inst["oom"], "firing"), ("OmegaCPUFallbackRatioHigh", inst["oom"], "pending"),
                       ("OmegaGPUStickyError", inst["sticky"], "firing"),
                       ("OmegaGPUNeedsRestart", inst["sticky"], "pending"),
                       ("OmegaCPUFallbackRatioHigh", inst["sticky"], "pending")}
        records = ["omega:embed_latency_ms:p95_5m", "omega:embed_requests:rate5m", "omega:http_5xx:ratio_5m",
                   "omega:http_429:ratio_5m", "omega:queue_saturation:max_1m", "omega:auth_nonce_cache:ratio",
                   "omega:http_requests:rate5m"]
        end, alerts, have = time.time() + a.timeout, set(), {}
        while time.time() < end:
            try:
                alerts = {(x["labels"]["alertname"], x["labels"].get("instance"), x["state"])
                          for x in get("/alerts")["alerts"]}
                have = {r: {x["metric"].get("instance") for x in query(r)} for r in records}
                have["omega:gpu_vram_used:ratio"] = {x["metric"].get("instance") for x in query("omega:gpu_vram_used:ratio")}
            except OSError:
                pass
            if want_alerts <= alerts and all(set(inst.values()) <= v for k, v in have.items() if k in records):
                break
            time.sleep(1)
        for al in sorted(want_alerts - alerts):
            errors.append(f"alert {al[0]} not {al[2]} on {al[1]} (alerts: {sorted(alerts)})")
        for al in sorted(alerts):
            if al[1] == inst["cpu"]:
                errors.append(f"alert {al[0]} {al[2]} on the CPU-only instance")
        for r in records:
            for name, i in inst.items():
                if i not in have.get(r, set()):
                    errors.append(f"recording rule {r}: no series for {name} ({i})")
        # VRAM exists on the two simulated GPUs only
        if have.get("omega:gpu_vram_used:ratio", set()) != {inst["oom"], inst["sticky"]}:
            errors.append(f"omega:gpu_vram_used:ratio on {have.get('omega:gpu_vram_used:ratio')}, want the GPU instances")
        sat = query("omega:queue_saturation:max_1m")
        if any(not 0 <= float(x["value"][1]) <= 1 for x in sat):
            errors.append(f"omega:queue_saturation:max_1m out of [0, 1]: {sat}")
        if errors:  # what Prometheus has, to explain the failure
            for q in ("omega_embed_cuda_oom_total", "omega_embed_route_total", 'omega_gpu_events_total{event="sticky"}',
                      "omega_gpu_healthy", "omega:embed_fallback:ratio_5m", "increase(omega_embed_cuda_oom_total[5m])"):
                print(f"  {q}: " + ", ".join(f"{x['metric'].get('instance')} {x['metric'].get('route', '')}"
                                             f"={x['value'][1]}" for x in query(q)))
        if not errors:
            print(f"PASS: alerts {sorted((x[0], x[2]) for x in alerts)}; none on the CPU-only instance; "
                  f"{len(records) + 1} recording rules have series")
    finally:
        if prom:
            prom.terminate()
            try:
                prom.wait(30)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
        for name, s in servers.items():
            rc = s.stop()
            if rc != 0:
                errors.append(f"omega serve ({name}) exited with {rc}")
            shutil.rmtree(s.dir, ignore_errors=True)
        if omega_test_server._model_dir:
            shutil.rmtree(omega_test_server._model_dir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    for e in errors:
        print("FAIL:", e)
    print(f"{'FAIL' if errors else 'PASS'}: rules against live series ({len(errors)} problems)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
