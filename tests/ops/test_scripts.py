#!/usr/bin/env python3
"""The validation scripts of ops/scripts against real `omega serve` processes (and a real HAProxy).

  test_scripts.py cli        --help, usage errors (2), an unreachable server (2)
  test_scripts.py smoke      omega-smoke-test passes on a healthy server (with and without the
                             HMAC secret), leaves no collection behind, and fails on a server
                             whose embeddings miss their deadline (batch_delay_ms over
                             OMEGA_REQUEST_TIMEOUT_MS), still dropping its collection
  test_scripts.py smoke-lb   omega-smoke-test through HAProxy over two instances: the collection
                             cycle is SKIPped with the reason, and runs with --collections-url
  test_scripts.py chaos-oom  omega-chaos-oom-test passes on a simulated GPU (gpu_sim:1), keeps and
                             restores the fault string it found, fails with ACCEL_OOM_CPU_FALLBACK
                             off (OOMs become 503), SKIPs (or FAILs with --require-gpu) without a GPU

Environment: OMEGA_BIN, OMEGA_GENMODEL (set by ctest). Exit 0 pass, 1 fail, 77 skip.
"""
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
import omega_test_server  # noqa: E402
from omega_test_server import Server  # noqa: E402

SCRIPTS = os.path.join(ROOT, "ops", "scripts")
SMOKE = os.path.join(SCRIPTS, "omega-smoke-test")
CHAOS = os.path.join(SCRIPTS, "omega-chaos-oom-test")
HARDENING = os.path.join(SCRIPTS, "omega-hardening-test")

failures = []
SERVER_DIRS = []  # each Server's log folder, removed at the end


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run(cmd, timeout=180, env=None):
    t0 = time.monotonic()
    e = {k: v for k, v in os.environ.items() if k != "OMEGA_CLIENT_API_KEY_FILE"}
    e.update(env or {})
    p = subprocess.run([sys.executable] + cmd, capture_output=True, text=True, timeout=timeout, env=e)
    out = p.stdout + p.stderr
    print(f"  $ {' '.join(os.path.basename(c) if c.startswith(SCRIPTS) else c for c in cmd)}  -> rc {p.returncode}, "
          f"{time.monotonic() - t0:.1f} s")
    return p.returncode, out


def show(out):
    for line in out.splitlines():
        print("    | " + line)


def lines(out, kind):
    return [l for l in out.splitlines() if l.startswith(kind + " ")]


class Tmp:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="omega-ops-scripts-")
        self.secret = os.path.join(self.dir, "hmac.secret")
        self.secret_value = secrets.token_urlsafe(32)
        with open(self.secret, "w") as f:
            f.write(self.secret_value + "\n")
        os.chmod(self.secret, 0o600)

    def data(self, name):
        d = os.path.join(self.dir, name)
        os.makedirs(d, exist_ok=True)
        return d


def server(tmp, name, **env):
    e = {"OMEGA_HMAC_SECRET_FILE": tmp.secret, "OMEGA_DATA_DIR": tmp.data(name), "OMEGA_MAX_CONNECTIONS_PER_IP": "0"}
    e.update({k: str(v) for k, v in env.items()})
    s = Server(env=e)
    SERVER_DIRS.append(s.dir)
    return s


def url(s):
    return f"http://127.0.0.1:{s.port}"


def collections_of(s):
    return [c["name"] for c in s.get("/collections").json()["collections"]]


def collection_dirs(tmp, name):
    d = os.path.join(tmp.dir, name, "collections")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def settings(s, secret):
    r = s.signed(secret, "GET", "/accel/config", b"")
    return {x["name"]: x["value"] for x in r.json()["settings"]}


# ---------------------------------------------------------------- cli

def test_cli():
    for script in (SMOKE, CHAOS, HARDENING):
        rc, out = run([script, "--help"], 30)
        expect(rc == 0 and "usage:" in out and "--url" in out, f"{os.path.basename(script)} --help exits 0 with usage")
    rc, out = run([SMOKE], 30)
    expect(rc == 2 and "--url" in out, "omega-smoke-test without --url: usage error, exit 2")
    rc, out = run([CHAOS, "--url", "http://127.0.0.1:1"], 30)
    expect(rc == 2 and "--hmac-secret-file" in out, "omega-chaos-oom-test without --hmac-secret-file: exit 2")
    rc, out = run([CHAOS, "--url", "http://127.0.0.1:1", "--hmac-secret-file", "/nonexistent/secret"], 30)
    expect(rc == 2, "omega-chaos-oom-test with an unreadable secret file: exit 2")
    rc, out = run([CHAOS, "--url", "http://127.0.0.1:1", "--hmac-secret-file", __file__, "--partial-rate", "1.5"], 30)
    expect(rc == 2, "omega-chaos-oom-test --partial-rate 1.5: exit 2")
    # a port nobody listens on: the smoke test cannot start (2)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    rc, out = run([SMOKE, "--url", f"http://127.0.0.1:{port}", "--timeout", "20"], 60)
    expect(rc == 2 and "does not answer" in out, "omega-smoke-test against a closed port: exit 2")
    rc, out = run([SMOKE, "--url", "ftp://x"], 30)
    expect(rc == 2, "omega-smoke-test --url ftp://x: exit 2")


# ---------------------------------------------------------------- smoke

SMOKE_CHECKS = ["health", "ready", "info", "metrics", "embed/string", "embed/list", "embed/normalize-false",
                "embed/dimensions", "tokenize", "v1-embeddings/float", "v1-embeddings/base64", "accel-health",
                "invoke/embed", "accel-config/get", "collections/create", "collections/upsert", "collections/search",
                "collections/search-text", "collections/invoke-search", "collections/delete", "collections/stats",
                "collections/drop"]


def test_smoke(tmp):
    s = server(tmp, "healthy")
    try:
        rc, out = run([SMOKE, "--url", url(s), "--hmac-secret-file", tmp.secret])
        show(out)
        passed = {l.split()[1] for l in lines(out, "PASS")}
        expect(rc == 0, "smoke with the secret: exit 0")
        expect(not lines(out, "FAIL") and not lines(out, "SKIP"), "smoke with the secret: no FAIL and no SKIP line")
        missing = [c for c in SMOKE_CHECKS if c not in passed]
        expect(not missing, f"smoke with the secret: every check PASSes (missing: {missing})")
        expect(re.search(r"^\d+ passed, 0 failed, 0 skipped$", out, re.M) is not None, "smoke prints the summary line")
        expect(collections_of(s) == [], "smoke left no collection on the server")
        expect(collection_dirs(tmp, "healthy") == [], "smoke left no collection folder in OMEGA_DATA_DIR")

        rc, out = run([SMOKE, "--url", url(s)])
        skipped = {l.split()[1].rstrip(":") for l in lines(out, "SKIP")}
        expect(rc == 0, "smoke without the secret: exit 0")
        expect(skipped == {"invoke/embed", "accel-config/get", "collections/invoke-search"},
               f"smoke without the secret: exactly the HMAC checks SKIP (got {sorted(skipped)})")
        expect(collections_of(s) == [], "smoke without the secret left no collection")
    finally:
        expect(s.stop() == 0, "the healthy server exits 0 on SIGTERM")

    # A server with API keys (as the packaged deployments run): the key from --api-key-file, or
    # from $OMEGA_CLIENT_API_KEY_FILE, reaches every check; without one the data plane says 401.
    key = secrets.token_urlsafe(24)
    keys, key_file = os.path.join(tmp.dir, "api-keys"), os.path.join(tmp.dir, "client.key")
    with open(keys, "w") as f:
        f.write(f"smoke write {key}\n")
    with open(key_file, "w") as f:
        f.write(key + "\n")
    s = Server(env={"OMEGA_HMAC_SECRET_FILE": tmp.secret, "OMEGA_DATA_DIR": tmp.data("keyed"),
                    "OMEGA_API_KEYS_FILE": keys}, api_key=key)
    SERVER_DIRS.append(s.dir)
    try:
        rc, out = run([SMOKE, "--url", url(s), "--hmac-secret-file", tmp.secret, "--api-key-file", key_file])
        show(out)
        passed = {l.split()[1] for l in lines(out, "PASS")}
        expect(rc == 0 and not [c for c in SMOKE_CHECKS if c not in passed],
               "smoke with --api-key-file against a keyed server: every check PASSes")
        rc, out = run([SMOKE, "--url", url(s), "--hmac-secret-file", tmp.secret],
                      env={"OMEGA_CLIENT_API_KEY_FILE": key_file})
        expect(rc == 0, "smoke with $OMEGA_CLIENT_API_KEY_FILE: exit 0")
        rc, out = run([SMOKE, "--url", url(s), "--hmac-secret-file", tmp.secret])
        expect(rc == 1 and any("401" in l for l in lines(out, "FAIL")), "smoke without a key: the checks FAIL with 401")
        expect(collections_of(s) == [], "smoke against the keyed server left no collection")
    finally:
        expect(s.stop() == 0, "the keyed server exits 0 on SIGTERM")

    # A server whose every batch takes 400 ms against a 150 ms deadline: embeddings are 504.
    s = server(tmp, "slow", OMEGA_FAULT_INJECT="batch_delay_ms:400", OMEGA_REQUEST_TIMEOUT_MS="150")
    try:
        rc, out = run([SMOKE, "--url", url(s), "--hmac-secret-file", tmp.secret])
        show(out)
        failed = {l.split()[1].rstrip(":") for l in lines(out, "FAIL")}
        expect(rc == 1, "smoke against a server over its deadline: exit 1")
        expect({"embed/string", "v1-embeddings/float", "invoke/embed"} <= failed,
               f"smoke names the embedding checks that failed (got {sorted(failed)})")
        expect(any("504" in l for l in lines(out, "FAIL")), "the failures say 504")
        expect("health" not in failed and "metrics" not in failed, "what still works still passes")
        expect(collections_of(s) == [], "the failed smoke run still dropped its collection")
        expect(collection_dirs(tmp, "slow") == [], "no collection folder left after the failed run")
    finally:
        s.stop()


# ---------------------------------------------------------------- smoke through HAProxy

def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_smoke_lb(tmp):
    haproxy = shutil.which("haproxy") or (os.path.exists("/usr/sbin/haproxy") and "/usr/sbin/haproxy")
    if not haproxy:
        print("SKIP: haproxy is not installed (tools/install-deps.sh installs it)")
        return 77
    a = server(tmp, "lb-a", OMEGA_FAULT_INJECT="gpu_sim:1")
    b = server(tmp, "lb-b")
    hp = None
    try:
        port = free_port()
        cfg = os.path.join(tmp.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(f"""global
  maxconn 512
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:{port}
  default_backend omega
backend omega
  balance roundrobin
  server a 127.0.0.1:{a.port}
  server b 127.0.0.1:{b.port}
""")
        hp = subprocess.Popen([haproxy, "-f", cfg, "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lb = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        rc, out = run([SMOKE, "--url", lb, "--hmac-secret-file", tmp.secret])
        show(out)
        expect(rc == 0, "smoke through HAProxy over two instances: exit 0")
        expect(re.search(r"^# 2 instance\(s\) behind", out, re.M) is not None, "it counts the two instances")
        expect(re.search(r"^SKIP collections/create: .*2 instances.*--collections-url", out, re.M) is not None,
               "the collection cycle is SKIPped, naming the reason and --collections-url")
        expect(re.search(r"^PASS invoke/embed", out, re.M) is not None, "the rest runs through the balancer")
        rc, out = run([SMOKE, "--url", lb, "--collections-url", url(b), "--hmac-secret-file", tmp.secret])
        show(out)
        expect(rc == 0 and not lines(out, "SKIP") and not lines(out, "FAIL"),
               "with --collections-url every check passes, none skipped")
        expect(collections_of(a) == [] and collections_of(b) == [], "no collection left on either instance")
    finally:
        if hp:
            hp.terminate()
            try:
                hp.wait(10)
            except subprocess.TimeoutExpired:
                hp.kill()
                hp.wait()
        a.stop()
        b.stop()
    return 0


# ---------------------------------------------------------------- chaos-oom

def test_chaos(tmp):
    fault = "gpu_sim:1,batch_delay_ms:1"  # a second fault, which the script must keep and restore
    s = server(tmp, "chaos", OMEGA_FAULT_INJECT=fault)
    try:
        oom0 = s.metric("omega_embed_cuda_oom_total")
        rc, out = run([CHAOS, "--url", url(s), "--hmac-secret-file", tmp.secret, "--requests", "120"])
        show(out)
        expect(rc == 0, "chaos-oom on a simulated GPU: exit 0")
        passed = {l.split()[1] for l in lines(out, "PASS")}
        p = f"chaos-oom[127.0.0.1:{s.port}]/"
        want = [p + n for n in ("gpu-route", "settings", "reference", "oom-all/requests", "oom-all/counters",
                                "oom-all/results", "oom-partial/requests", "oom-partial/counters",
                                "oom-partial/results", "restore")]
        expect(all(w in passed for w in want), f"every chaos check PASSes (missing {[w for w in want if w not in passed]})")
        expect(s.metric("omega_embed_cuda_oom_total") >= oom0 + 1, "the server counted injected OOMs")
        now = settings(s, tmp.secret_value)
        expect(now["OMEGA_FAULT_INJECT"] == fault, f"OMEGA_FAULT_INJECT restored to {fault!r} (is {now['OMEGA_FAULT_INJECT']!r})")
        expect(now["EMBED_PREFER_GPU"] == "true", "EMBED_PREFER_GPU restored to true")
        r = s.post("/embed", {"inputs": ["after the chaos"]})
        expect(r.status == 200, "the server still embeds afterwards")
    finally:
        expect(s.stop() == 0, "the chaos server exits 0 on SIGTERM")

    # OOMs without the CPU fallback are 503s: the script must fail, and still restore.
    s = server(tmp, "chaos-nofb", OMEGA_FAULT_INJECT="gpu_sim:1", ACCEL_OOM_CPU_FALLBACK="false")
    try:
        rc, out = run([CHAOS, "--url", url(s), "--hmac-secret-file", tmp.secret, "--requests", "40"])
        show(out)
        fails = lines(out, "FAIL")
        expect(rc == 1, "chaos-oom with ACCEL_OOM_CPU_FALLBACK=false: exit 1")
        expect(any("oom-all/requests" in l and "503" in l for l in fails), "it reports the 503s of oom-all")
        expect(any(l.startswith("PASS ") and "/restore" in l for l in out.splitlines()), "it restored the settings")
        now = settings(s, tmp.secret_value)
        expect(now["OMEGA_FAULT_INJECT"] == "gpu_sim:1", "OMEGA_FAULT_INJECT is gpu_sim:1 again")
    finally:
        s.stop()

    # No GPU route: SKIP, or FAIL with --require-gpu; nothing changed on the server.
    s = server(tmp, "chaos-cpu")
    try:
        rc, out = run([CHAOS, "--url", url(s), "--hmac-secret-file", tmp.secret])
        expect(rc == 0 and re.search(r"^SKIP chaos-oom\[.*\]/gpu-route: no GPU route", out, re.M) is not None,
               "chaos-oom on a CPU-only server: SKIP with the reason, exit 0")
        rc, out = run([CHAOS, "--url", url(s), "--hmac-secret-file", tmp.secret, "--require-gpu"])
        expect(rc == 1 and re.search(r"^FAIL chaos-oom\[.*\]/gpu-route", out, re.M) is not None,
               "with --require-gpu it is a FAIL, exit 1")
        expect(settings(s, tmp.secret_value)["EMBED_PREFER_GPU"] == "true", "the CPU server's settings untouched")
    finally:
        s.stop()


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what not in ("cli", "smoke", "smoke-lb", "chaos-oom"):
        print(__doc__)
        return 2
    tmp = Tmp()
    t0 = time.monotonic()
    try:
        if what == "cli":
            test_cli()
        elif what == "smoke":
            test_smoke(tmp)
        elif what == "smoke-lb":
            if test_smoke_lb(tmp) == 77:
                return 77
        else:
            test_chaos(tmp)
    finally:
        shutil.rmtree(tmp.dir, ignore_errors=True)
        for d in SERVER_DIRS + [omega_test_server._model_dir]:
            if d:
                shutil.rmtree(d, ignore_errors=True)
    print(f"# {time.monotonic() - t0:.1f} s")
    if failures:
        print(f"{len(failures)} expectation(s) failed:\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
