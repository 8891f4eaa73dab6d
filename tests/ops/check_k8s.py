#!/usr/bin/env python3
"""The Kubernetes manifests of ops/k8s, checked by machine:

1. every kustomization (ops/k8s/common, base, overlays/*) renders with `kubectl kustomize`
   (the kubectl on PATH, plus any in OMEGA_K8S_EXTRA_KUBECTL, colon-separated; all renders
   must agree up to the generated name hashes);
2. every rendered object validates against the Kubernetes OpenAPI schemas through the npm
   packages kubernetes-models and @kubernetes-models/prometheus-operator (tests/ops/
   k8s_validate.mjs), strictly: a field the schema does not declare at its position (a typo
   such as `readinesProbe`) fails; an object of a kind neither package knows fails;
3. the cross-references, against the real `omega` binary and a live `omega serve` started with
   each workload's own settings: probe paths and ports, ConfigMap keys and values, the grace
   period against the drain, the Secret mounts against OMEGA_HMAC_SECRET_FILE and OMEGA_API_KEYS_FILE
   (each shipped empty, and omega serve refusing to start on it), the HPA's target
   and metric, the selectors of Service/PDB/ServiceMonitor, the StatefulSet's volume against
   OMEGA_DATA_DIR, the securityContext, the GPU scheduling of the overlays;
4. the pods against the image they run (Dockerfile, or Dockerfile.cuda for overlays/gpu), parsed:
   the command's binary is the ENTRYPOINT's, runAsUser/runAsGroup are the USER, the models and
   data mounts are VOLUMEs (or ENV OMEGA_DATA_DIR), the container port is CMD's --port and
   EXPOSEd, and the image's ENV settings count under the pod's own env (as they do in a pod).

One PASS/FAIL line per check, a summary, exit 1 on any failure. Exit 77 (skip) only when no
kubectl, no node/npm, or the npm registry cannot be reached to install the validators once."""
import argparse
import json
import math
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
import omega_test_server  # noqa: E402

# The validators, pinned. kubernetes-models 4.5.x (Kubernetes 1.3x schemas) runs on node >= 14;
# its 5.x line needs node >= 22, newer than Debian 12's.
NPM_PINS = {"kubernetes-models": "4.5.1", "@kubernetes-models/prometheus-operator": "4.4.4"}
GRACE_MARGIN_S = 5         # terminationGracePeriodSeconds >= preStop + drain + cancel wait + this
LOAD_DELAY_MS = 1500       # load_delay_ms fault: a model load long enough to probe "not ready"
SETTING_PREFIXES = ("OMEGA_", "EMBED_", "ACCEL_")
WORKLOAD_KINDS = ("Deployment", "StatefulSet")

results = []


def report(ok, what, why=""):
    results.append(ok)
    print(("PASS " if ok else "FAIL ") + what + ("" if ok or not why else ": " + why), flush=True)
    return ok


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


# ---------------------------------------------------------------------------------------------
# Rendering

def kustomizations(root):
    out = []
    for d, _, files in os.walk(os.path.join(root, "ops", "k8s")):
        if "kustomization.yaml" in files:
            out.append(d)
    return sorted(out)


def render(kubectl, d):
    r = subprocess.run([kubectl, "kustomize", d], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return None, r.stderr.strip()
    noise = [ln for ln in r.stderr.splitlines() if ln.strip() and "deprecated" not in ln]
    if noise:
        print("  (stderr of %s kustomize %s: %s)" % (kubectl, d, " | ".join(noise)[:500]))
    return [o for o in yaml.safe_load_all(r.stdout) if o], ""


def normalise(objs):
    """Objects with the generators' hash suffixes and kustomize v2's empty annotations removed."""
    text = json.dumps(objs, sort_keys=True)
    text = re.sub(r'"((?:omega-[a-z-]+))-[a-z0-9]{10}"', r'"\1"', text)
    out = json.loads(text)
    for o in out:
        if o.get("metadata", {}).get("annotations") == {}:
            del o["metadata"]["annotations"]
    return sorted(out, key=lambda o: (o.get("kind", ""), o.get("metadata", {}).get("name", "")))


# ---------------------------------------------------------------------------------------------
# The validators from npm

def ensure_validators(cache):
    if not shutil.which("node") or not shutil.which("npm"):
        return "node and npm are not installed"

    def installed(pkg):
        try:
            with open(os.path.join(cache, "node_modules", pkg, "package.json")) as f:
                return json.load(f).get("version")
        except OSError:
            return None
    if all(installed(p) == v for p, v in NPM_PINS.items()):
        return None
    os.makedirs(cache, exist_ok=True)
    r = subprocess.run(["npm", "install", "--prefix", cache, "--no-audit", "--no-fund"]
                       + [f"{p}@{v}" for p, v in NPM_PINS.items()], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        err = r.stderr[-600:]
        if re.search(r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|network", err):
            return "npm cannot reach the registry: " + err
        print("npm install failed:\n" + err)
        sys.exit(1)
    if not all(installed(p) == v for p, v in NPM_PINS.items()):
        print("npm install did not install " + str(NPM_PINS))
        sys.exit(1)
    return None


def validate_schemas(cache, renders):
    items = [{"source": f"{src}", "object": o} for src, objs in renders for o in objs]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(items, f)
    try:
        r = subprocess.run(["node", os.path.join(HERE, "k8s_validate.mjs"), cache, f.name],
                           capture_output=True, text=True, timeout=120)
    finally:
        os.unlink(f.name)
    lines = r.stdout.splitlines()
    st = [ln for ln in lines if ln.startswith(("ok self-test:", "FAIL self-test:"))]
    report(len(st) == 1 and st[0].startswith("ok "), "schema: the strict unknown-field check catches the typos "
           "planted in a canary object", st[0] if st else "no self-test line")
    lines = [ln for ln in lines if ln not in st]
    for ln in lines:
        if ln.startswith("ok "):
            report(True, "schema: " + ln[3:])
        elif ln.startswith("FAIL "):
            report(False, "schema: " + ln[5:])
    report(r.returncode == 0 and sum(ln.startswith("ok ") for ln in lines) == len(items),
           f"schema: all {len(items)} rendered objects validated", r.stderr[-800:] + (lines[-1] if lines else ""))


# ---------------------------------------------------------------------------------------------
# The images the pods run: their Dockerfiles, parsed

class Dockerfile:
    """The runtime stage (after the last FROM) of a Dockerfile: ENTRYPOINT and CMD (exec forms,
    else None), USER (uid, gid), VOLUMEs, EXPOSEd ports and ENV."""

    def __init__(self, path):
        self.path, self.name = path, os.path.basename(path)
        self.entrypoint = self.cmd = self.user = None
        self.volumes, self.expose, self.env, self.errors = [], [], {}, []
        with open(path) as f:
            text = f.read()
        logical, cur = [], ""
        for ln in text.splitlines():
            if not cur and ln.lstrip().startswith("#"):
                continue          # comments (also between continued lines is not Dockerfile syntax)
            if ln.rstrip().endswith("\\"):
                cur += ln.rstrip()[:-1] + " "
                continue
            cur += ln
            if cur.strip():
                logical.append(cur.strip())
            cur = ""
        stage = []
        for ln in logical:
            word = ln.split(None, 1)[0].upper()
            if word == "FROM":
                stage = []
            stage.append((word, ln.split(None, 1)[1] if " " in ln else ""))
        for word, rest in stage:
            if word in ("ENTRYPOINT", "CMD"):
                try:
                    v = json.loads(rest)
                    ok = isinstance(v, list) and all(isinstance(x, str) for x in v)
                except ValueError:
                    ok = False
                if not ok:
                    self.errors.append(f"{word} is not in JSON exec form: {rest}")
                setattr(self, word.lower(), v if ok else None)
            elif word == "USER":
                self.user = rest.strip()
            elif word == "VOLUME":
                try:
                    v = json.loads(rest)
                except ValueError:
                    v = rest.split()
                self.volumes += [x.rstrip("/") for x in ([v] if isinstance(v, str) else v)]
            elif word == "EXPOSE":
                self.expose += [int(x.split("/")[0]) for x in rest.split() if x.split("/")[0].isdigit()]
            elif word == "ENV":
                parts = shlex.split(rest)
                if parts and "=" not in parts[0]:        # legacy ENV KEY VALUE
                    self.env[parts[0]] = rest.split(None, 1)[1] if len(parts) > 1 else ""
                else:
                    self.env.update(x.split("=", 1) for x in parts)

    def uid_gid(self):
        """(uid, gid) of USER when numeric (a pod's runAsUser/runAsGroup are numbers), else None."""
        m = re.fullmatch(r"(\d+)(?::(\d+))?", self.user or "")
        return (int(m.group(1)), int(m.group(2)) if m.group(2) else None) if m else (None, None)

    def cmd_port(self):
        args = self.cmd or []
        for i, a in enumerate(args):
            if a == "--port" and i + 1 < len(args) and args[i + 1].isdigit():
                return int(args[i + 1])
            if a.startswith("--port=") and a[7:].isdigit():
                return int(a[7:])
        return None


def image_of(root, render_name):
    """The Dockerfile whose image a render's pods run: overlays/gpu runs the CUDA image."""
    return os.path.join(root, "Dockerfile.cuda" if os.path.basename(render_name) == "gpu" else "Dockerfile")


# ---------------------------------------------------------------------------------------------
# Omega's own view: the settings table and a live server

def omega_settings(omega, env=None):
    """{KEY: (value, source)} from `omega config`, whose lines read KEY=VALUE<TAB># source[, ...]."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    e.update(env or {})
    r = subprocess.run([omega, "config"], capture_output=True, text=True, env=e, timeout=30)
    out = {}
    for ln in r.stdout.splitlines():
        m = re.match(r"^([A-Z][A-Z0-9_]*)=(.*?)\t# (\w+)", ln)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3))
    return r.returncode, out, r.stderr.strip()


def cancel_wait_s():
    """Omega's drain: after OMEGA_DRAIN_GRACE_MS it cancels what is left and waits this long
    (src/server/lifecycle.c, `hard = ... + N`) before exiting."""
    with open(os.path.join(ROOT, "src", "server", "lifecycle.c")) as f:
        m = re.search(r"hard\s*=\s*omega__now_ns\(\)\s*\+\s*(\d+)LL", f.read())
    if not m:
        raise SystemExit("FAIL src/server/lifecycle.c: the drain's cancel wait (hard = ...) not found; update "
                         "tests/ops/check_k8s.py")
    return int(m.group(1)) / 1e9


class Live:
    """`omega serve` with a workload's settings, on loopback, and what its paths answered."""

    def __init__(self, settings, model):
        self.tmp = tempfile.mkdtemp(prefix="omega-k8s-")
        env = dict(settings)
        secret = os.path.join(self.tmp, "hmac")
        with open(secret, "w") as f:
            f.write(secrets.token_hex(32))
        env["OMEGA_HMAC_SECRET_FILE"] = secret
        if env.get("OMEGA_API_KEYS_FILE"):  # a real key where the pod mounts its Secret
            env["OMEGA_API_KEYS_FILE"] = os.path.join(self.tmp, "api-keys")
            with open(env["OMEGA_API_KEYS_FILE"], "w") as f:
                f.write(f"k8s-check read {secrets.token_hex(16)}\n")
        env["OMEGA_HOST"] = "127.0.0.1"        # traffic stays on loopback
        if env.get("OMEGA_DATA_DIR"):
            env["OMEGA_DATA_DIR"] = os.path.join(self.tmp, "data")
            os.makedirs(env["OMEGA_DATA_DIR"])
        faults = [f"load_delay_ms:{LOAD_DELAY_MS}"]
        if env.get("OMEGA_ACCEL") == "gpu":
            faults.append("gpu_sim:1")
        env["OMEGA_FAULT_INJECT"] = ",".join(faults)
        env.pop("OMEGA_MODEL", None)           # the Server helper passes --model
        env.pop("OMEGA_CONFIG_FILE", None)
        try:
            self.srv = omega_test_server.Server(env=env, wait_ready=False, model=model)
        except Exception:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def status(self, path):
        try:
            return self.srv.get(path, timeout=5).status
        except OSError as e:
            return "error " + str(e)

    def watch(self, paths, timeout=60):
        """Poll every path until /ready answers 200; {path: [statuses while loading]}."""
        loading = {p: [] for p in paths}
        end = time.time() + timeout
        while time.time() < end:
            sample = {p: self.status(p) for p in paths}
            # Only answers given before a later /ready said 503 count as "while loading" (the
            # server never turns unready again until it drains).
            if self.status("/ready") == 200:
                return loading
            for p in paths:
                loading[p].append(sample[p])
            time.sleep(0.05)
        raise RuntimeError("omega serve did not become ready: " + self.srv.text()[-2000:])

    def stop(self):
        rc = self.srv.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(self.srv.dir, ignore_errors=True)
        return rc


# The settings that name a file a Secret provides, and what omega serve says when that file is
# the shipped empty placeholder.
SECRET_FILES = {"OMEGA_HMAC_SECRET_FILE": "empty", "OMEGA_API_KEYS_FILE": "no keys"}


def refuses_secret(omega, model, setting, content):
    """Does omega serve refuse to start with this content in the file of `setting`?"""
    with tempfile.TemporaryDirectory(prefix="omega-k8s-secret-") as d:
        p = os.path.join(d, "secret")
        with open(p, "wb") as f:
            f.write(content)
        e = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
        e.update({setting: p, "OMEGA_HOST": "127.0.0.1"})
        try:
            r = subprocess.run([omega, "serve", "--model", model, "--port", "0"], env=e, capture_output=True,
                               text=True, timeout=20)
        except subprocess.TimeoutExpired:
            return False, "it kept running"
        return r.returncode != 0, r.stderr.strip()[-300:]


# ---------------------------------------------------------------------------------------------
# Cross-references of one render

def by_kind(objs, kind):
    return [o for o in objs if o.get("kind") == kind]


def find(objs, kind, name):
    for o in objs:
        if o.get("kind") == kind and o.get("metadata", {}).get("name") == name:
            return o
    return None


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def port_of(container, ref):
    """A probe's or Service's port (name or number) -> the container port number, or None."""
    for p in container.get("ports", []):
        if ref == p.get("name") or ref == p.get("containerPort"):
            return p.get("containerPort")
    return None


def effective_env(c, objs, where):
    """The settings a container gets: its envFrom ConfigMaps, then its env (which wins)."""
    env = {}
    for src in c.get("envFrom", []):
        ref = src.get("configMapRef")
        if ref:
            cm = find(objs, "ConfigMap", ref.get("name"))
            report(cm is not None, f"{where}: envFrom ConfigMap {ref.get('name')} is in the render")
            env.update((cm or {}).get("data", {}))
        else:
            report(False, f"{where}: envFrom only from ConfigMaps", str(src))
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        else:
            report(False, f"{where}: env {e.get('name')} has a literal value", "valueFrom is not checked")
    return env


def quantity_cores(q):
    q = str(q)
    return int(q[:-1]) / 1000 if q.endswith("m") else float(q)


class Checker:
    def __init__(self, omega, model, root):
        self.omega, self.model, self.root = omega, model, root
        self.images = {}
        rc, table, err = omega_settings(omega)
        if rc != 0 or len(table) < 20:
            raise SystemExit(f"FAIL `omega config` printed {len(table)} settings (rc {rc}): {err}")
        self.table = table
        self.cancel_wait = cancel_wait_s()
        self.lives = {}

    def live(self, where, settings):
        """A live server with these settings (one per distinct set), or None if it failed."""
        key = json.dumps(settings, sort_keys=True)
        if key not in self.lives:
            self.lives[key] = None
            try:
                lv = Live(settings, self.model)
            except Exception as e:  # noqa: BLE001 - reported
                report(False, f"{where}: omega serve starts with the workload's settings", str(e)[-600:])
                return None
            try:
                lv.loading = lv.watch(["/health", "/ready", "/metrics"])
                lv.metrics = lv.srv.get("/metrics").body.decode()
                lv.answers = {}
            except Exception as e:  # noqa: BLE001 - reported
                lv.stop()
                report(False, f"{where}: omega serve gets ready with the workload's settings", str(e)[-600:])
                return None
            report(True, f"{where}: omega serve starts and gets ready with the workload's settings")
            self.lives[key] = lv
        return self.lives[key]

    def stop_all(self):
        for lv in self.lives.values():
            if lv:
                rc = lv.stop()
                report(rc == 0, "live: omega serve drained and exited 0 on SIGTERM", f"exit {rc}")

    def answer(self, lv, path):
        if path not in lv.answers:
            lv.answers[path] = lv.status(path)
        return lv.answers[path]

    # --- ConfigMaps --------------------------------------------------------------------------
    def configmaps(self, name, objs):
        for cm in by_kind(objs, "ConfigMap"):
            where = f"{name} ConfigMap {cm['metadata']['name']}"
            data = cm.get("data", {})
            unknown = sorted(k for k in data if k not in self.table)
            report(not unknown, f"{where}: every key is a setting of `omega config`", "unknown: " + ", ".join(unknown))
            rc, eff, err = omega_settings(self.omega, {k: str(v) for k, v in data.items()})
            report(rc == 0, f"{where}: `omega config` accepts every value", err)
            wrong = sorted(k for k, v in data.items() if k in eff and (eff[k][0] != str(v) or eff[k][1] != "env"))
            report(rc != 0 or not wrong, f"{where}: every value is taken as given",
                   ", ".join(f"{k}={data[k]!r} -> {eff[k]}" for k in wrong))

    # --- the Secret ---------------------------------------------------------------------------
    def secret_file(self, where, pod, c, env, objs, setting):
        path = env.get(setting, "")
        if not report(path.startswith("/"), f"{where}: {setting} is an absolute path", repr(path)):
            return
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        hit = None
        for m in c.get("volumeMounts", []):
            v = vols.get(m["name"], {})
            if "secret" not in v:
                continue
            mp = m["mountPath"].rstrip("/")
            if m.get("subPath") and mp == path:
                hit = (v, m, m["subPath"])
            elif not m.get("subPath") and os.path.dirname(path) == mp:
                key = os.path.basename(path)
                for it in v["secret"].get("items", []):
                    if it.get("path") == key:
                        key = it.get("key")
                hit = (v, m, key)
        if not report(hit is not None, f"{where}: a Secret volume is mounted at {setting} {path}"):
            return
        v, m, key = hit
        report(m.get("readOnly") is True, f"{where}: the Secret mount of {setting} is read-only")
        sec = find(objs, "Secret", v["secret"].get("secretName"))
        if not report(sec is not None, f"{where}: Secret {v['secret'].get('secretName')} is in the render"):
            return
        data = sec.get("data", {})
        report(key in data or key in sec.get("stringData", {}), f"{where}: Secret key {key!r} is the file's name",
               "keys: " + ", ".join(data))
        mode = v["secret"].get("defaultMode", 0o644)
        report(mode & 0o007 == 0, f"{where}: the file of {setting} is not world-readable", oct(mode))
        import base64
        content = base64.b64decode(data.get(key, "")) if key in data else sec.get("stringData", {}).get(key, "").encode()
        if not content:
            refused, log = refuses_secret(self.omega, self.model, setting, content)
            report(refused and SECRET_FILES[setting] in log, f"{where}: the shipped placeholder (empty) file of "
                   f"{setting} makes omega serve refuse to start, so no pod runs on it", log)

    # --- the image the pods run ------------------------------------------------------------------
    def image(self, render_name):
        path = image_of(self.root, render_name)
        if path not in self.images:
            df = None
            if report(os.path.isfile(path), f"{render_name}: its pods' image is built by {os.path.basename(path)}"):
                df = Dockerfile(path)
                report(not df.errors, f"{df.name}: ENTRYPOINT and CMD in JSON exec form", "; ".join(df.errors))
            self.images[path] = df
        return self.images[path]

    def image_volume(self, where, df, what, mount):
        mount = mount.rstrip("/")
        allowed = df.volumes + [df.env["OMEGA_DATA_DIR"].rstrip("/")] if df.env.get("OMEGA_DATA_DIR") else df.volumes
        report(mount in allowed, f"{where}: the {what} mount {mount} is a VOLUME of {df.name} (or its ENV "
               "OMEGA_DATA_DIR)", f"{df.name} has VOLUME {df.volumes}, OMEGA_DATA_DIR {df.env.get('OMEGA_DATA_DIR')!r}")

    def against_image(self, where, df, c, port):
        cmd = c.get("command")
        ep = df.entrypoint or []
        if cmd:
            report(bool(ep) and cmd[0] == ep[0], f"{where}: command binary {cmd[0]} is {df.name}'s ENTRYPOINT binary",
                   f"ENTRYPOINT {ep}")
        else:
            report(bool(ep), f"{where}: no command, so {df.name}'s ENTRYPOINT runs", "it has none")
        cport = df.cmd_port()
        report(cport == port, f"{where}: container port {port} is the --port of {df.name}'s CMD", f"CMD {df.cmd}")
        report(port in df.expose, f"{where}: container port {port} is EXPOSEd by {df.name}", f"EXPOSE {df.expose}")

    # --- one pod template ----------------------------------------------------------------------
    def workload(self, name, w, objs):
        kind, wname = w["kind"], w["metadata"]["name"]
        where = f"{name} {kind}/{wname}"
        pod = w["spec"]["template"]["spec"]
        labels = w["spec"]["template"]["metadata"].get("labels", {})
        report(selects(w["spec"]["selector"].get("matchLabels", {}), labels),
               f"{where}: selector matches the pod template's labels")
        cs = pod.get("containers", [])
        if not report(len(cs) == 1, f"{where}: one container", str(len(cs))):
            return
        c = cs[0]
        env = effective_env(c, objs, where)
        for k in env:
            if k.startswith(SETTING_PREFIXES):
                report(k in self.table, f"{where}: env {k} is a setting of `omega config`")
        # The image's own ENV is in the container's environment too, under the pod's env.
        df = self.image(name)
        image_env = {k: v for k, v in (df.env if df else {}).items() if k.startswith(SETTING_PREFIXES)}
        settings = {**image_env, **{k: str(v) for k, v in env.items()}}
        get = lambda k: settings.get(k, self.table.get(k, ("", ""))[0])  # noqa: E731

        # image and command
        report(re.match(r"^([a-z0-9.\-:]+/)*omega:[A-Za-z0-9_][A-Za-z0-9_.\-]*$", c.get("image", "")) is not None,
               f"{where}: image is omega:<tag>", c.get("image"))
        report("serve" in c.get("command", []) + c.get("args", []), f"{where}: runs `omega serve`")

        # ports
        port = int(get("OMEGA_PORT"))
        report(port_of(c, "http") == port, f"{where}: container port `http` is OMEGA_PORT {port}",
               str(c.get("ports")))
        report(get("OMEGA_HOST") in ("0.0.0.0", "::"), f"{where}: OMEGA_HOST listens on the pod IP",
               get("OMEGA_HOST"))

        # security
        psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        gid = csc.get("runAsGroup", psc.get("runAsGroup"))
        if df:
            iuid, igid = df.uid_gid()
            report(iuid not in (None, 0), f"{where}: {df.name} USER is a numeric non-root uid", str(df.user))
            report(uid == iuid, f"{where}: runAsUser {uid} is {df.name}'s USER uid {iuid}")
            report(igid is not None and gid == igid, f"{where}: runAsGroup {gid} is {df.name}'s USER gid {igid}",
                   "" if igid is not None else f"USER {df.user!r} names no group")
        report(psc.get("runAsNonRoot") is True and csc.get("runAsNonRoot", True) is True,
               f"{where}: runAsNonRoot")
        report(csc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem")
        report(csc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation false")
        report(csc.get("privileged") is not True, f"{where}: not privileged")
        caps = csc.get("capabilities", {})
        report("ALL" in caps.get("drop", []) and not caps.get("add"), f"{where}: capabilities drop ALL, add none",
               str(caps))
        sec = csc.get("seccompProfile", psc.get("seccompProfile", {}))
        report(sec.get("type") == "RuntimeDefault", f"{where}: seccompProfile RuntimeDefault", str(sec))
        report(pod.get("enableServiceLinks") is False, f"{where}: enableServiceLinks false",
               "service links would add OMEGA_PORT=tcp://... for a Service named omega")
        report(pod.get("automountServiceAccountToken") is False, f"{where}: no service account token mounted")
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        mounts = {m["mountPath"].rstrip("/"): m for m in c.get("volumeMounts", [])}
        tmp = mounts.get("/tmp")
        report(tmp is not None and "emptyDir" in vols.get(tmp["name"], {}), f"{where}: /tmp is an emptyDir")

        # models: read-only, from a claim in the render
        model = get("OMEGA_MODEL")
        mm = [m for p, m in mounts.items() if model.startswith(p + "/")]
        if report(len(mm) == 1, f"{where}: OMEGA_MODEL {model} lies on a mounted volume"):
            m = mm[0]
            if df:
                self.image_volume(where, df, "models", m["mountPath"])
            v = vols.get(m["name"], {})
            report(m.get("readOnly") is True, f"{where}: the models volume is mounted read-only")
            if "persistentVolumeClaim" in v:
                claim = v["persistentVolumeClaim"]["claimName"]
                report(find(objs, "PersistentVolumeClaim", claim) is not None,
                       f"{where}: models claim {claim} is in the render")

        # data: a StatefulSet keeps collections on its claim template; a Deployment keeps none
        data_dir = get("OMEGA_DATA_DIR")
        if kind == "StatefulSet":
            templates = [t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])]
            m = mounts.get(data_dir.rstrip("/")) if data_dir else None
            report(bool(data_dir) and m is not None and m["name"] in templates and m["name"] not in vols,
                   f"{where}: OMEGA_DATA_DIR {data_dir!r} is the mount of a volumeClaimTemplate",
                   f"mounts {sorted(mounts)}, templates {templates}")
            if m:
                report(not m.get("readOnly"), f"{where}: the data volume is writable")
                if df:
                    self.image_volume(where, df, "data", m["mountPath"])
            svc = find(objs, "Service", w["spec"].get("serviceName"))
            report(svc is not None and svc["spec"].get("clusterIP") == "None" and
                   selects(svc["spec"].get("selector", {}), labels),
                   f"{where}: serviceName {w['spec'].get('serviceName')} is a headless Service selecting its pods")
        else:
            report(not data_dir, f"{where}: a stateless Deployment has no OMEGA_DATA_DIR",
                   f"{data_dir!r}" + (f" from {df.name}'s ENV: omega serve cannot create its collections folder "
                                      "on the read-only root and exits; set it to \"\" in the pod's env"
                                      if df and "OMEGA_DATA_DIR" not in env else ""))

        for setting in SECRET_FILES:
            self.secret_file(where, pod, c, env, objs, setting)
        if df:
            self.against_image(where, df, c, port_of(c, "http"))

        # grace period vs drain
        pre = c.get("lifecycle", {}).get("preStop", {})
        pre_s = None
        if "sleep" in pre:
            pre_s = pre["sleep"].get("seconds")
        elif "exec" in pre:
            cmd = " ".join(pre["exec"].get("command", []))
            mm2 = re.search(r"\bsleep\s+(\d+)", cmd)
            pre_s = int(mm2.group(1)) if mm2 else None
        if report(isinstance(pre_s, int) and pre_s > 0, f"{where}: a preStop sleep delays SIGTERM", str(pre)):
            drain_s = math.ceil(int(get("OMEGA_DRAIN_GRACE_MS")) / 1000)
            need = pre_s + drain_s + self.cancel_wait + GRACE_MARGIN_S
            tgps = pod.get("terminationGracePeriodSeconds", 30)
            report(tgps >= need, f"{where}: terminationGracePeriodSeconds {tgps} >= preStop {pre_s} + "
                   f"OMEGA_DRAIN_GRACE_MS {drain_s} s + cancel wait {self.cancel_wait:g} + margin {GRACE_MARGIN_S}",
                   f"needs {need:g}")

        # GPU scheduling by overlay
        res = c.get("resources", {})
        gpus = res.get("limits", {}).get("nvidia.com/gpu")
        gpu_tol = [t for t in pod.get("tolerations", []) if t.get("key") == "nvidia.com/gpu"]
        overlay = os.path.basename(name)
        if overlay == "gpu":
            report(str(gpus) == "1", f"{where}: one nvidia.com/gpu", str(gpus))
            report(bool(pod.get("nodeSelector")), f"{where}: nodeSelector for GPU nodes")
            report(bool(gpu_tol), f"{where}: tolerates the nvidia.com/gpu taint")
        else:
            report(gpus is None and not gpu_tol and "nvidia.com/gpu" not in res.get("requests", {}),
                   f"{where}: no GPU request or toleration outside overlays/gpu")
        if overlay == "cpu":
            report(get("OMEGA_ACCEL") == "cpu", f"{where}: OMEGA_ACCEL=cpu", get("OMEGA_ACCEL"))
        threads, cpu_lim = int(get("EMBED_THREADS") or 0), res.get("limits", {}).get("cpu")
        if threads and cpu_lim:
            report(threads <= quantity_cores(cpu_lim), f"{where}: EMBED_THREADS {threads} <= cpu limit {cpu_lim}")

        # the live server with these settings
        lv = self.live(where, settings)
        if lv is None:
            return None
        self.probes(where, c, port, lv)
        ann = w["spec"]["template"]["metadata"].get("annotations", {})
        report(ann.get("prometheus.io/scrape") == "true", f"{where}: prometheus.io/scrape annotation")
        report(ann.get("prometheus.io/port") == str(port), f"{where}: prometheus.io/port is the container port",
               str(ann.get("prometheus.io/port")))
        mpath = ann.get("prometheus.io/path", "/metrics")
        st = self.answer(lv, mpath)
        report(st == 200 and "# TYPE omega_" in lv.metrics, f"{where}: prometheus.io/path {mpath} serves Omega's "
               "metrics on a live server", str(st))
        return {"kind": kind, "name": wname, "labels": labels, "container": c, "port": port, "live": lv,
                "replicas": w["spec"].get("replicas")}

    def probes(self, where, c, port, lv):
        for kind, want_gate in (("startupProbe", True), ("readinessProbe", True), ("livenessProbe", False)):
            p = c.get(kind)
            if not report(p is not None and "httpGet" in p, f"{where}: {kind} is an HTTP GET"):
                continue
            g = p["httpGet"]
            report(port_of(c, g.get("port")) == port, f"{where}: {kind} port {g.get('port')} is the container port")
            report(g.get("scheme", "HTTP") == "HTTP", f"{where}: {kind} scheme HTTP")
            path = g.get("path", "/")
            st = self.answer(lv, path)
            report(st == 200, f"{where}: {kind} {path} answers 200 on a ready live server", str(st))
            seen = lv.loading.get(path)
            if seen is None:  # a path the live server was not watched on during its load
                report(False, f"{where}: {kind} {path} is one of /health, /ready", "unexpected probe path")
                continue
            ok = lambda s: isinstance(s, int) and 200 <= s < 400  # noqa: E731 - the kubelet's rule
            if want_gate:
                report(bool(seen) and not ok(seen[0]) and not any(ok(s) for s in seen),
                       f"{where}: {kind} {path} fails while the model loads (it gates traffic on readiness)",
                       f"answered {sorted(set(map(str, seen)))} during the load")
            else:
                report(bool(seen) and all(ok(s) for s in seen),
                       f"{where}: {kind} {path} succeeds while the model loads (no restart during a slow load)",
                       f"answered {sorted(set(map(str, seen)))}")
        if c.get("startupProbe"):
            sp = c["startupProbe"]
            budget = sp.get("periodSeconds", 10) * sp.get("failureThreshold", 3)
            report(budget >= 300, f"{where}: startupProbe allows {budget} s for the model load (>= 300)")

    # --- Services, PDBs, HPAs, ServiceMonitors ---------------------------------------------------
    def render_checks(self, name, objs):
        self.configmaps(name, objs)
        pods = [self.workload(name, w, objs) for w in objs if w.get("kind") in WORKLOAD_KINDS]
        pods = [p for p in pods if p]
        if not pods:
            return

        def matching(selector):
            return [p for p in pods if selects(selector, p["labels"])]

        svc_ports = {}
        for s in by_kind(objs, "Service"):
            where = f"{name} Service/{s['metadata']['name']}"
            ps = matching(s["spec"].get("selector", {}))
            if not report(len(ps) == 1, f"{where}: selector matches the pods of one workload",
                          str([p["name"] for p in ps])):
                continue
            for sp in s["spec"].get("ports", []):
                tp = sp.get("targetPort", sp.get("port"))
                report(port_of(ps[0]["container"], tp) == ps[0]["port"],
                       f"{where}: port {sp.get('name')} targetPort {tp} is the container port {ps[0]['port']}")
            svc_ports[s["metadata"]["name"]] = (s, ps[0])
        for pdb in by_kind(objs, "PodDisruptionBudget"):
            where = f"{name} PodDisruptionBudget/{pdb['metadata']['name']}"
            ps = matching(pdb["spec"].get("selector", {}).get("matchLabels", {}))
            report(len(ps) == 1, f"{where}: selector matches the pods of one workload", str([p["name"] for p in ps]))
            mu = pdb["spec"].get("maxUnavailable")
            report(mu is None or (isinstance(mu, int) and mu >= 1) or isinstance(mu, str),
                   f"{where}: allows a voluntary disruption (node drains do not hang)", str(mu))
        hpa_targets = set()
        for h in by_kind(objs, "HorizontalPodAutoscaler"):
            where = f"{name} HorizontalPodAutoscaler/{h['metadata']['name']}"
            ref = h["spec"]["scaleTargetRef"]
            tgt = [p for p in pods if p["kind"] == ref.get("kind") and p["name"] == ref.get("name")]
            if not report(len(tgt) == 1 and ref.get("kind") == "Deployment" and ref.get("apiVersion") == "apps/v1",
                          f"{where}: targets the Deployment {ref.get('name')} of the render", str(ref)):
                continue
            hpa_targets.add(ref["name"])
            report(tgt[0]["replicas"] is None, f"{where}: its Deployment leaves spec.replicas to the HPA",
                   f"replicas: {tgt[0]['replicas']}")
            report(h["spec"].get("minReplicas", 1) <= h["spec"]["maxReplicas"], f"{where}: minReplicas <= maxReplicas")
            ms = h["spec"].get("metrics", [])
            report(bool(ms), f"{where}: has a metric")
            exported = set(re.findall(r"^# TYPE (\S+) ", tgt[0]["live"].metrics, re.M))
            for m in ms:
                t = m.get("type")
                if t in ("Pods", "Object", "External"):
                    mname = m[t[0].lower() + t[1:]]["metric"]["name"]
                    report(mname in exported, f"{where}: metric {mname} is exported by a live omega serve",
                           "not in /metrics")
        for p in pods:
            if p["kind"] == "Deployment":
                report(p["name"] in hpa_targets, f"{name} Deployment/{p['name']}: an HPA scales it")
        for sm in by_kind(objs, "ServiceMonitor"):
            where = f"{name} ServiceMonitor/{sm['metadata']['name']}"
            sel = sm["spec"].get("selector", {}).get("matchLabels", {})
            hit = [(s, p) for s, p in svc_ports.values() if selects(sel, s["metadata"].get("labels", {}))]
            if not report(len(hit) == 1, f"{where}: selects one Service of the render by its labels",
                          str([s["metadata"]["name"] for s, _ in hit])):
                continue
            s, p = hit[0]
            names = [sp.get("name") for sp in s["spec"].get("ports", [])]
            for ep in sm["spec"].get("endpoints", []):
                report(ep.get("port") in names, f"{where}: endpoint port {ep.get('port')} is a named port of "
                       f"Service {s['metadata']['name']}", str(names))
                path = ep.get("path", "/metrics")
                st = self.answer(p["live"], path)
                report(st == 200 and "# TYPE omega_" in p["live"].metrics,
                       f"{where}: path {path} serves Omega's metrics on a live server", str(st))
        for p in pods:
            report(any(selects(sm["spec"].get("selector", {}).get("matchLabels", {}),
                               s["metadata"].get("labels", {})) and sp is p
                       for sm in by_kind(objs, "ServiceMonitor") for s, sp in svc_ports.values()),
                   f"{name} {p['kind']}/{p['name']}: a ServiceMonitor scrapes it")
            report(any(sp is p for _, sp in svc_ports.values()), f"{name} {p['kind']}/{p['name']}: a Service selects it")
            report(any(selects(d["spec"].get("selector", {}).get("matchLabels", {}), p["labels"])
                       for d in by_kind(objs, "PodDisruptionBudget")),
                   f"{name} {p['kind']}/{p['name']}: a PodDisruptionBudget covers it")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--omega", default=os.environ.get("OMEGA_BIN", "build/omega"))
    ap.add_argument("--genmodel", default=os.environ.get("OMEGA_GENMODEL", "build/omega-genmodel"))
    ap.add_argument("--node-cache", default=os.environ.get("OMEGA_NODE_CACHE", "build/node-cache"))
    ap.add_argument("--root", default=ROOT, help="the repository (its ops/ is checked)")
    a = ap.parse_args()
    omega_test_server.OMEGA = os.path.abspath(a.omega)
    omega_test_server.GENMODEL = os.path.abspath(a.genmodel)

    kubectls = [k for k in [shutil.which("kubectl")] + os.environ.get("OMEGA_K8S_EXTRA_KUBECTL", "").split(":") if k]
    if not kubectls:
        skip("no kubectl on PATH (tools/install-deps.sh installs one)")
    why = ensure_validators(os.path.abspath(a.node_cache))
    if why:
        skip(why)

    dirs = kustomizations(a.root)
    report(len(dirs) >= 4, "ops/k8s has common, base and the overlays", str(dirs))
    for need in ("base", "overlays/gpu", "overlays/cpu", "overlays/collections"):
        report(os.path.join(a.root, "ops", "k8s", need) in dirs, f"ops/k8s/{need} is a kustomization")
    renders = {}   # kubectl -> [(name, objs)]
    for k in kubectls:
        ver = subprocess.run([k, "version", "--client"], capture_output=True, text=True).stdout.split("\n")[0]
        for d in dirs:
            name = os.path.relpath(d, a.root)
            objs, err = render(k, d)
            if report(objs is not None, f"render {name} with {k} ({ver.strip()[:60]})", err):
                renders.setdefault(k, []).append((name, objs))
    first = renders.get(kubectls[0], [])
    for k in kubectls[1:]:
        for (n1, o1), (n2, o2) in zip(first, renders.get(k, [])):
            report(normalise(o1) == normalise(o2), f"render {n1}: {kubectls[0]} and {k} agree (up to name hashes)")
    validate_schemas(os.path.abspath(a.node_cache),
                     [(f"{n} [kubectl {i + 1}]", o)
                      for i, k in enumerate(kubectls) for n, o in renders.get(k, [])])

    model = omega_test_server.small_model()
    chk = Checker(os.path.abspath(a.omega), model, a.root)
    try:
        for name, objs in first:
            chk.render_checks(name, objs)
    finally:
        chk.stop_all()
        shutil.rmtree(model, ignore_errors=True)
    failed = results.count(False)
    print(f"\n{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
