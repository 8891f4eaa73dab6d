#!/usr/bin/env python3
"""The container images: both Dockerfiles checked statically, then the CPU image's runtime contract
run on this machine without Docker.

Static (Dockerfile and Dockerfile.cuda): multi-stage, the build stage runs tools/install-deps.sh
and installs to a prefix, the runtime stage has no compiler or -dev package, every library omega
links is provided by a runtime package the Dockerfile names (resolved with dpkg on this Debian 12
machine), non-root numeric USER, exec-form ENTRYPOINT/CMD/HEALTHCHECK, VOLUMEs for /models and
OMEGA_DATA_DIR, EXPOSE of the served port, the CUDA plugin where omega's loader looks for it
(src/backend/gpu/loader.c), and .dockerignore covering build*/, models/, .git, node caches.

Runtime contract (CPU image): `cmake --install` of this build to a prefix, then in a private
mount and network namespace (unshare) a copy of the image's filesystem is laid out as the final
stage's COPY lines say, over a read-only view of this machine's root (as `docker run --read-only
--tmpfs /tmp -v data:/var/lib/omega -v model:/models/model:ro` would): the ENTRYPOINT + CMD run
as uid 10001 with exactly the Dockerfile's ENV, the HEALTHCHECK command must fail before the
server is up and pass once it is ready, an embedding and a persisted collection work, nothing is
written outside /tmp and the data volume, and SIGTERM ends it with exit 0.

`docker build` runs only where a Docker daemon answers (it does not here: no daemon and no
registry), else that part is reported as skipped.

  check_containers.py --build-dir build --genmodel build/omega-genmodel [--dockerfile F]...
Exit 0 pass, 1 fail, 77 when the runtime part cannot run (no unshare privileges) and the static part passed.
"""
import argparse
import fcntl
import json
import os
import re
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
UID = 10001

failures = []
skipped = []


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


# ---------------------------------------------------------------- Dockerfile parsing

class Instr:
    def __init__(self, cmd, args, line):
        self.cmd, self.args, self.line = cmd, args, line

    def exec_form(self):
        """The JSON array of an exec-form instruction (after any --options), or None."""
        rest = self.args
        while rest.startswith("--"):
            opt, _, rest = rest.partition(" ")
            rest = rest.lstrip()
        if self.cmd == "HEALTHCHECK":
            if not rest.startswith("CMD "):
                return None
            rest = rest[4:].lstrip()
        try:
            v = json.loads(rest)
        except ValueError:
            return None
        return v if isinstance(v, list) and all(isinstance(x, str) for x in v) else None

    def options(self):
        return dict(re.findall(r"--([a-z-]+)=(\S+)", self.args))


def parse_dockerfile(path):
    """[(stage_name, base, [Instr])] with line continuations joined and comments dropped."""
    with open(path) as f:
        raw = f.read().split("\n")
    logical, buf, start = [], "", 0
    for no, line in enumerate(raw, 1):
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):
            continue
        if not buf:
            start = no
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        logical.append((start, buf))
        buf = ""
    stages, args = [], {}
    for no, text in logical:
        cmd, _, rest = text.partition(" ")
        cmd = cmd.upper()
        rest = re.sub(r"\s+", " ", rest.strip())
        if cmd == "ARG" and not stages:
            k, _, v = rest.partition("=")
            args[k] = v
            continue
        if cmd == "FROM":
            m = re.match(r"(\S+)(?: AS (\S+))?$", rest, re.I)
            base = re.sub(r"\$\{(\w+)\}", lambda x: args.get(x.group(1), x.group(0)), m.group(1))
            stages.append([m.group(2) or f"stage{len(stages)}", base, []])
            continue
        stages[-1][2].append(Instr(cmd, rest, no))
    return stages


def env_of(instrs):
    env = {}
    for i in instrs:
        if i.cmd == "ENV":
            for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', i.args):
                env[k] = v.strip('"')
    return env


def apt_packages(instrs):
    pkgs = []
    for i in instrs:
        if i.cmd == "RUN" and "apt-get install" in i.args:
            tail = i.args.split("apt-get install", 1)[1].split("&&", 1)[0]
            pkgs += [w for w in tail.split() if not w.startswith("-")]
    return pkgs


def needed_packages(binary):
    """Packages (of this Debian 12 machine) that hold the shared libraries `binary` needs."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    direct = set(re.findall(r"NEEDED\)\s+Shared library: \[([^\]]+)\]",
                            subprocess.run(["readelf", "-d", binary], capture_output=True, text=True).stdout))
    res = {}
    for lib, path in re.findall(r"^\s*(\S+) => (\S+)", out, re.M):
        if lib not in direct:
            continue
        real = os.path.realpath(path)
        for p in (path, real):
            q = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
            if q.returncode == 0:
                res[lib] = q.stdout.split(":")[0].strip()
                break
        else:
            res[lib] = None
    return res


def provides(listed, pkg):
    """Is `pkg` one of `listed` or a direct dependency of one (libopenblas0 -> libopenblas0-pthread)?"""
    if pkg in listed or pkg in ("libc6", "libgcc-s1"):  # in every Debian/Ubuntu base image
        return True
    for l in listed:
        q = subprocess.run(["apt-cache", "depends", "--no-recommends", "--no-suggests", l], capture_output=True, text=True)
        if re.search(rf"Depends: <?{re.escape(pkg)}>?$", q.stdout, re.M) or re.search(rf"^\s+{re.escape(pkg)}$", q.stdout, re.M):
            return True
    return False


def static_checks(path, omega_bin, cuda):
    name = os.path.basename(path)
    stages = parse_dockerfile(path)
    expect(len(stages) >= 2, f"{name}: multi-stage ({len(stages)} stages)")
    if len(stages) < 2:
        return None
    build = next((s for s in stages if s[0].lower() == "build"), stages[0])
    final = stages[-1]
    binstr, finstr = build[2], final[2]
    runs = " ".join(i.args for i in binstr if i.cmd == "RUN")
    expect("tools/install-deps.sh" in runs, f"{name}: the build stage runs tools/install-deps.sh (the README's script)")
    m = re.search(r"cmake --install \S+ --prefix (\S+)", runs)
    expect(m is not None or "tools/build.sh" in runs, f"{name}: the build stage builds and installs to a prefix")
    prefix = m.group(1) if m else None
    expect(final[1] != build[1] or len(stages) > 1, f"{name}: the runtime stage starts from its own base")
    froms = [i for i in finstr if i.cmd == "COPY" and "--from=" in i.args]
    expect(froms, f"{name}: the runtime stage copies the build's output (COPY --from)")
    pkgs = apt_packages(finstr)
    dev = [p for p in pkgs if p.endswith("-dev") or p in ("build-essential", "cmake", "gcc", "make", "pkg-config")]
    expect(not dev, f"{name}: no compiler or -dev package in the runtime stage ({dev or 'none'})")
    if not cuda:
        for lib, pkg in needed_packages(omega_bin).items():
            expect(pkg is not None and provides(pkgs, pkg),
                   f"{name}: {lib} (package {pkg}) is installed by the runtime stage's apt-get line {pkgs}")
    else:
        for p in ("libopenblas0", "libjansson4", "libmicrohttpd12", "libutf8proc2", "libssl3", "zlib1g"):
            expect(p in pkgs, f"{name}: runtime package {p} installed")
        expect(re.match(r"nvidia/cuda:\S+-devel-", build[1]) is not None, f"{name}: builds on a CUDA -devel image ({build[1]})")
        expect(re.match(r"nvidia/cuda:\S+-runtime-", final[1]) is not None, f"{name}: runs on a CUDA -runtime image ({final[1]})")
        expect("-DOMEGA_CUDA=ON" in runs and "libomega-cuda.so" in runs, f"{name}: the build stage builds the CUDA plugin and checks it")
    users = [i.args for i in finstr if i.cmd == "USER"]
    expect(users and re.match(rf"{UID}(:{UID})?$", users[-1]) is not None, f"{name}: USER {UID} (numeric, non-root): {users}")
    env = env_of(finstr)
    expect(env.get("OMEGA_DATA_DIR") == "/var/lib/omega", f"{name}: ENV OMEGA_DATA_DIR=/var/lib/omega")
    vols = []
    for i in finstr:
        if i.cmd == "VOLUME":
            v = json.loads(i.args) if i.args.startswith("[") else i.args.split()
            vols += v
    expect("/models" in vols and env.get("OMEGA_DATA_DIR") in vols, f"{name}: VOLUME /models and OMEGA_DATA_DIR ({vols})")
    model = env.get("OMEGA_MODEL", "")
    expect(model.startswith("/models/"), f"{name}: OMEGA_MODEL ({model}) is inside the /models volume")
    ep = [i for i in finstr if i.cmd == "ENTRYPOINT"]
    cm = [i for i in finstr if i.cmd == "CMD"]
    hc = [i for i in finstr if i.cmd == "HEALTHCHECK"]
    expect(ep and ep[-1].exec_form(), f"{name}: ENTRYPOINT in exec form (SIGTERM reaches omega as PID 1)")
    expect(cm and cm[-1].exec_form() is not None, f"{name}: CMD in exec form")
    expect(hc and hc[-1].exec_form(), f"{name}: HEALTHCHECK CMD in exec form")
    entry = (ep[-1].exec_form() or []) + (cm[-1].exec_form() or []) if ep and cm else []
    expect(entry[:2] and entry[1] == "serve", f"{name}: the entry point runs `omega serve` ({entry})")
    port = None
    if "--port" in entry:
        port = entry[entry.index("--port") + 1]
    expose = [i.args for i in finstr if i.cmd == "EXPOSE"]
    expect(port and port in expose, f"{name}: EXPOSE {expose} matches --port {port}")
    probe = hc[-1].exec_form() if hc else []
    expect(probe and f":{port}/" in " ".join(probe), f"{name}: the HEALTHCHECK probes the served port ({probe})")
    if probe and probe[0] in ("curl", "wget"):
        expect(probe[0] in pkgs, f"{name}: the HEALTHCHECK's {probe[0]} is installed in the runtime stage")
    expect("start-period" in hc[-1].options() if hc else False, f"{name}: the HEALTHCHECK has a start period for the model load")
    expect(any(i.cmd == "STOPSIGNAL" and i.args == "SIGTERM" for i in finstr) or not any(i.cmd == "STOPSIGNAL" for i in finstr),
           f"{name}: the stop signal is SIGTERM")
    # where the binary and the plugin land
    dests = {}
    for i in finstr:
        if i.cmd == "COPY":
            parts = [p for p in i.args.split() if not p.startswith("--")]
            dests[parts[-1]] = (i.args, parts[:-1])
    omega_dest = entry[0] if entry else None
    expect(omega_dest in dests, f"{name}: the ENTRYPOINT's binary {omega_dest} is copied from the build")
    for src_path in [p for args, srcs in dests.values() if "--from" not in args for p in srcs]:
        expect(os.path.exists(os.path.join(ROOT, src_path)), f"{name}: COPY source {src_path} exists in the repository")
    if cuda:
        with open(os.path.join(ROOT, "src/backend/gpu/loader.c")) as f:
            rels = re.findall(r'"(/(?:\.\./)?(?:lib/)?libomega-cuda\.so)"', f.read())
        bindir = os.path.dirname(omega_dest or "/")
        looked = [os.path.normpath(bindir + r) for r in rels]
        plugin = [d for d in dests if d.endswith("libomega-cuda.so")]
        expect(plugin and plugin[0] in looked, f"{name}: the plugin {plugin} is where omega looks ({looked})")
    return {"stages": stages, "final": final, "env": env, "entry": entry, "probe": probe, "prefix": prefix,
            "dests": dests, "port": port, "vols": vols}


def dockerignore_checks():
    path = os.path.join(ROOT, ".dockerignore")
    ok = expect(os.path.exists(path), ".dockerignore exists")
    if not ok:
        return
    with open(path) as f:
        pats = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    for want in ("build*/", "models/", ".git"):
        expect(want in pats or want.rstrip("/") in pats, f".dockerignore covers {want}")
    expect(any("node_modules" in p for p in pats) and any("node-cache" in p for p in pats),
           ".dockerignore covers node_modules and node caches")
    # and it keeps what the build needs
    needed = ["CMakeLists.txt", "src", "include", "tools/install-deps.sh", "ops/config/omega-accel-defaults.env", "data"]
    import fnmatch
    for n in needed:
        hit = [p for p in pats if fnmatch.fnmatch(n, p.rstrip("/")) or fnmatch.fnmatch(n + "/", p)]
        expect(not hit, f".dockerignore keeps {n} in the build context (matched by {hit or 'nothing'})")


# ---------------------------------------------------------------- the runtime contract

def lo_up():
    """Bring up the loopback interface of this (new) network namespace."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ifr = struct.pack("16sH", b"lo", 0)
    flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, ifr))[1]  # SIOCGIFFLAGS
    fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP
    s.close()


def sh(*cmd):
    subprocess.run(list(cmd), check=True)


def inner(args):
    """Runs as root inside `unshare --mount --net`: lay the image out and run it."""
    spec = json.loads(args.inner)
    tmp = spec["tmp"]
    lo_up()
    sh("mount", "--make-rprivate", "/")
    upper, work, root = (os.path.join(tmp, d) for d in ("upper", "work", "root"))
    for d in (upper, work, root):
        os.makedirs(d)
    sh("mount", "-t", "overlay", "overlay", "-o", f"lowerdir=/,upperdir={upper},workdir={work}", root)
    # the final stage's filesystem changes: its directories, and each COPY
    env = spec["env"]
    data_dir, model_dir = env["OMEGA_DATA_DIR"], env["OMEGA_MODEL"]
    for d in ["/models", data_dir, os.path.dirname(env.get("OMEGA_CONFIG_FILE", "/etc/omega/x")), model_dir, "/tmp"]:
        os.makedirs(root + d, exist_ok=True)
    for dest, (argstr, srcs) in spec["dests"].items():
        src = srcs[0]
        if "--from=" in argstr:
            src = spec["install"] + src[len(spec["prefix"]):] if src.startswith(spec["prefix"]) else None
        else:
            src = os.path.join(ROOT, src)
        if src is None or not os.path.exists(src):
            print(f"FAIL COPY {argstr}: nothing at {src}")
            return 1
        if os.path.exists(root + dest) and not os.path.isdir(root + dest):
            os.unlink(root + dest)
        os.makedirs(os.path.dirname(root + dest), exist_ok=True)
        shutil.copy2(src, root + dest)
        os.chmod(root + dest, 0o755 if os.access(src, os.X_OK) else 0o644)
    # read-only root, then the writable and mounted parts on top of it
    sh("mount", "-o", "remount,ro", root)
    sh("mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", root + "/tmp")
    sh("mount", "--bind", spec["data"], root + data_dir)
    sh("mount", "--bind", spec["model"], root + model_dir)
    sh("mount", "-o", "remount,ro,bind", root + model_dir)
    sh("mount", "--rbind", "/dev", root + "/dev")
    sh("mount", "-t", "proc", "proc", root + "/proc")

    def in_image(cmd, **kw):
        return ["chroot", root, "setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", "--"] + cmd

    run_env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    run_env.update(env)
    probe = spec["probe"]
    r = subprocess.run(in_image(probe), env=run_env, capture_output=True, timeout=30)
    expect(r.returncode != 0, f"the HEALTHCHECK fails while nothing serves ({' '.join(probe)}: exit {r.returncode})")
    log = open(os.path.join(tmp, "omega.log"), "w+")
    t0 = time.monotonic()
    proc = subprocess.Popen(in_image(spec["entry"]), env=run_env, stdout=log, stderr=subprocess.STDOUT)
    rc = None
    try:
        healthy = False
        end = time.monotonic() + 30
        while time.monotonic() < end and proc.poll() is None:
            r = subprocess.run(in_image(probe), env=run_env, capture_output=True, timeout=30)
            if r.returncode == 0:
                healthy = True
                break
            time.sleep(0.2)
        exited = proc.poll()
        expect(healthy, f"the HEALTHCHECK passes once omega is ready ({time.monotonic() - t0:.1f} s"
                        + (f"; omega exited with {exited})" if exited is not None else ")"))
        if not healthy:
            raise RuntimeError("not healthy")
        with open(f"/proc/{proc.pid}/status") as f:
            st = f.read()
        # the chroot/setpriv chain execs into omega: this pid is omega itself
        uid = re.search(r"^Uid:\s+(\d+)", st, re.M).group(1)
        name = re.search(r"^Name:\s+(\S+)", st, re.M).group(1)
        expect(name == "omega" and uid == str(UID), f"omega runs as uid {UID} (process {name}, uid {uid})")
        base = f"http://127.0.0.1:{spec['port']}"

        def call(method, path, body=None):
            req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return resp.status, json.loads(resp.read() or b"null")
            except urllib.error.HTTPError as e:
                return e.code, e.read()
        st1, emb = call("POST", "/embed", {"inputs": "read-only root filesystem"})
        expect(st1 == 200 and isinstance(emb, list) and len(emb) == 1, f"POST /embed answers 200 ({st1})")
        st2, _ = call("POST", "/collections", {"name": "contract", "dim": 4, "metric": "l2"})
        st3, _ = call("POST", "/collections/contract/upsert", {"points": [{"id": 1, "vector": [1, 2, 3, 4]}]})
        expect(st2 == 201 and st3 == 200, f"a collection is created and written in the data volume ({st2}, {st3})")
        files = []
        for dp, _, fs in os.walk(spec["data"]):
            files += [os.path.join(dp, f) for f in fs]
        expect(any("contract" in f for f in files), f"its files are in the data volume ({len(files)} files)")
        proc.send_signal(15)
        try:
            rc = proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        expect(rc == 0, f"SIGTERM: omega drains and exits 0 (exit {rc})")
    except RuntimeError:
        pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.seek(0)
        text = log.read()
        log.close()
    bad = [l for l in text.splitlines() if re.search(r"read-only|permission denied|EROFS|EACCES", l, re.I)]
    expect(not bad, f"no read-only or permission error in omega's log ({bad[:3]})")
    # what omega wrote: only its data volume (the overlay's upper layer holds only the image's files)
    stray = []
    for dp, dn, fs in os.walk(upper):
        for f in fs + dn:
            p = os.path.join(dp, f)
            if os.lstat(p).st_uid == UID:
                stray.append(p[len(upper):])
    expect(not stray, f"nothing owned by uid {UID} outside /tmp and the data volume ({stray[:5]})")
    if failures:
        print("omega's log:\n" + text[-3000:])
    return 1 if failures else 0


def runtime_contract(info, args):
    if os.geteuid() != 0:
        print("SKIP runtime contract: needs root (unshare, chroot, setpriv to uid 10001)")
        skipped.append("runtime")
        return
    if not shutil.which("unshare") or not shutil.which("setpriv"):
        print("SKIP runtime contract: unshare/setpriv (util-linux) missing")
        skipped.append("runtime")
        return
    tmp = tempfile.mkdtemp(prefix="omega-container-")
    try:
        os.chmod(tmp, 0o755)
        install = os.path.join(tmp, "install")
        r = subprocess.run(["cmake", "--install", args.build_dir, "--prefix", install], capture_output=True, text=True)
        if not expect(r.returncode == 0, f"cmake --install {args.build_dir} --prefix TMP"):
            print(r.stdout[-2000:] + r.stderr[-2000:])
            return
        model = os.path.join(tmp, "model")
        subprocess.run([args.genmodel, "--out", model, "--hidden", "64", "--layers", "2", "--heads", "2",
                        "--intermediate", "128", "--max-seq-length", "32", "--seed", "11"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for dp, dn, fs in os.walk(model):
            for x in dn:
                os.chmod(os.path.join(dp, x), 0o755)
            for x in fs:
                os.chmod(os.path.join(dp, x), 0o644)
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        os.chown(data, UID, UID)  # the named volume, owned by the image's user as its mount point is
        spec = {"tmp": tmp, "install": install, "prefix": info["prefix"], "model": model, "data": data,
                "env": info["env"], "entry": info["entry"], "probe": info["probe"], "dests": info["dests"],
                "port": info["port"]}
        cmd = ["unshare", "--mount", "--net", "--fork", sys.executable, os.path.abspath(__file__),
               "--inner", json.dumps(spec)]
        test = subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True, text=True)
        if test.returncode != 0:
            print(f"SKIP runtime contract: unshare --mount --net is not permitted here ({test.stderr.strip()})")
            skipped.append("runtime")
            return
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=150)
        sys.stdout.write(r.stdout + r.stderr)
        for line in r.stdout.splitlines():
            if line.startswith("FAIL "):
                failures.append(line[5:])
        expect(r.returncode == 0, "the runtime contract (in its namespace) passed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def docker_build():
    docker = shutil.which("docker")
    if not docker:
        print("SKIP docker build: no docker command on this machine (and no registry to pull debian:12 or "
              "nvidia/cuda from); the static checks and the runtime contract above stand in for it")
        return
    r = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        print("SKIP docker build: no Docker daemon answers")
        return
    r = subprocess.run([docker, "build", "-q", "-f", os.path.join(ROOT, "Dockerfile"), ROOT], capture_output=True,
                       text=True, timeout=1800)
    expect(r.returncode == 0, f"docker build -f Dockerfile . ({r.stderr.strip()[-300:]})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--genmodel")
    ap.add_argument("--dockerfile", action="append", help="check these instead of Dockerfile and Dockerfile.cuda")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        return inner(args)
    omega = os.path.join(args.build_dir, "omega")
    files = args.dockerfile or [os.path.join(ROOT, "Dockerfile"), os.path.join(ROOT, "Dockerfile.cuda")]
    infos = {}
    for f in files:
        if not expect(os.path.exists(f), f"{os.path.basename(f)} exists"):
            continue
        infos[f] = static_checks(f, omega, cuda="cuda" in os.path.basename(f))
    dockerignore_checks()
    cpu = [f for f in infos if "cuda" not in os.path.basename(f) and infos[f]]
    if cpu and not failures:
        if not args.genmodel:
            ap.error("--genmodel is needed for the runtime contract")
        runtime_contract(infos[cpu[0]], args)
    elif failures:
        print("(the runtime contract does not run while a static check fails)")
    print("(Dockerfile.cuda's runtime contract needs the CUDA plugin, which only a machine with nvcc builds: "
          "static checks only)")
    docker_build()
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    return 77 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
