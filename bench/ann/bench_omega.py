#!/usr/bin/python3
"""Omega's side of the ANN benchmark: the same datasets, protocol and JSON schema as
../shared/bench/ann/bench_ann.py (FAISS, hnswlib), driving the `omega index` CLI, so
`bench_ann.py --table --merge out/omega.json` prints both side by side.

  /usr/bin/python3 bench/ann/bench_omega.py --ann-dir /tmp/omega-ann --omega build/omega \
      --datasets fashion-mnist-784,synth-384-100k --threads 1,2 [--kinds flat,hnsw] [--M 16]

Per (dataset, kind, params, threads): build wall time (`omega index build`), memory
(the index's bytes as `omega index stats` reports them; peak = the build process's peak
RSS minus the data it read), index file size; then for each ef: batch QPS (all --nq queries
in one `omega index search` call, median of --reps; per CPU-second: over that process's whole CPU
time, loading included, so a lower bound), recall@10 computed exactly as the peer
harness does (tie-tolerant, from the exact scores of the returned ids), and one query per
call (`--one-at-a-time`, p50/p99). The CLI times only the search itself, not loading."""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

K = 10


def load(ddir):
    m = json.load(open(os.path.join(ddir, "meta.json")))
    d, gk = m["d"], m["gt_k"]
    base = np.fromfile(os.path.join(ddir, "base.f32"), dtype="<f4").reshape(-1, d)
    q = np.fromfile(os.path.join(ddir, "query.f32"), dtype="<f4").reshape(-1, d)
    gtd = np.fromfile(os.path.join(ddir, "gt_dist.f32"), dtype="<f4").reshape(-1, gk)
    gt = np.fromfile(os.path.join(ddir, "gt.i32"), dtype="<i4").reshape(-1, gk)
    return m, base, q, gt, gtd


def recall_at_k(I, qn, basen, gtd, metric, k=K):
    """The peer harness's tie-tolerant recall@k (same slack, same duplicate rule)."""
    I = I[:, :k]
    valid = I >= 0
    vecs = basen[np.where(valid, I, 0)]
    thr = gtd[:, k - 1:k]
    if metric == "l2":
        diff = vecs - qn[:, None, :]
        good = np.einsum("qkd,qkd->qk", diff, diff) <= thr + 1e-5 * np.abs(thr) + 1e-6
    else:
        good = np.einsum("qkd,qd->qk", vecs, qn) >= thr - 1e-5 * np.abs(thr) - 1e-6
    good &= valid
    hits = 0
    for i in range(I.shape[0]):
        seen = set()
        for j in range(k):
            if good[i, j] and I[i, j] not in seen:
                seen.add(I[i, j])
                hits += 1
    return min(1.0, hits / (I.shape[0] * k))


def foreign_snap():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    hz = os.sysconf("SC_CLK_TCK")
    busy = (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / hz
    return time.time(), busy, ru.ru_utime + ru.ru_stime


def foreign_frac(a, b):
    """Share of the machine's CPU used by other processes between two snapshots."""
    wall = max(b[0] - a[0], 1e-9)
    other = (b[1] - a[1]) - (b[2] - a[2])
    return max(0.0, other / (wall * os.cpu_count()))


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), p.stderr.strip()[-500:]))
    return p.stderr


def run_peak(cmd, work):
    """run() under /usr/bin/time: (stderr, that process's own peak RSS in kB). getrusage's
    RUSAGE_CHILDREN would give the largest child so far, not this one."""
    f = os.path.join(work, "peak.txt")
    err = run(["/usr/bin/time", "-f", "%M", "-o", f] + cmd)
    return err, int(open(f).read().split()[-1])


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_usearch(a, ds, ddir, m, qpath, qs_path, nq, M, T, qn, basen, gt, gtd, work):
    """usearch through bench/ann/usearch_run.cjs: build timed in node, recall computed here."""
    here = os.path.dirname(os.path.abspath(__file__))
    metric = "l2sq" if m["metric"] == "l2" else "ip"
    qfile = qpath
    base = os.path.join(ddir, "base.f32")
    if m["metric"] == "cosine":  # usearch ip on normalised copies, as the peers harness does
        base = os.path.join(work, "base_n.f32")
        basen.astype("<f4").tofile(base)
        qfile = os.path.join(work, "q_n.f32")
        qn.astype("<f4").tofile(qfile)
    env = dict(os.environ, USEARCH_MODULE=os.path.join(a.usearch, "node_modules", "usearch"))
    c0 = foreign_snap()
    p = subprocess.run(["node", os.path.join(here, "usearch_run.cjs"), base, qfile, str(m["d"]), metric, str(M),
                        str(a.efc), str(T), a.ef, str(K), str(min(a.single_nq, nq)), work],
                       capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError("usearch: " + p.stderr[-500:])
    r = json.loads(p.stdout.strip().splitlines()[-1])
    res = {"n": m["n"], "d": m["d"], "nq": nq, "metric": m["metric"], "data_mb": m["n"] * m["d"] * 4 / 2**20,
           "build_s": r["build_s"], "mem_mb": r["index_mb"], "peak_mb": None, "index_mb": r["index_mb"],
           "sweep_name": "ef", "points": [], "job_foreign_cpu": foreign_frac(c0, foreign_snap())}
    for pt in r["points"]:
        I = np.fromfile(os.path.join(work, "ids_%d.i32" % pt["param"]), dtype="<i4").reshape(nq, K).astype(np.int64)
        pt["recall10"] = recall_at_k(I, qn, basen, gtd[:nq], m["metric"])
        pt["recall10_ids"] = float(np.mean([len(set(I[i]) & set(gt[i, :K])) / K for i in range(nq)]))
        pt["batch_cpu_qps"] = None
        pt["foreign_cpu"] = res["job_foreign_cpu"]
        res["points"].append(pt)
        print("  %s usearch T=%d ef=%s recall10=%.4f batchQPS=%.0f singleQPS=%.0f p50=%.3fms" % (
            ds, T, pt["param"], pt["recall10"], pt["batch_qps"], pt["single_qps"], pt["p50_ms"]), file=sys.stderr, flush=True)
    return {"spec": {"dataset": ds, "lib": "usearch", "params": {"M": M, "efc": a.efc}, "threads": T}, "result": res}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ann-dir", required=True, help="a writable copy of ../shared/bench/ann with data/")
    ap.add_argument("--omega", required=True, help="the omega binary")
    ap.add_argument("--datasets", default="fashion-mnist-784,synth-384-100k")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--kinds", default="flat,hnsw")
    ap.add_argument("--M", default="16")
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,192,256")
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--single-nq", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--stop-recall", type=float, default=0.999)
    ap.add_argument("--out", default=None, help="default ANN_DIR/out/omega.json")
    ap.add_argument("--usearch", default=None,
                    help="a folder with node_modules/usearch: also run usearch (HNSW, SIMD build) the same way")
    a = ap.parse_args()
    out_path = a.out or os.path.join(a.ann_dir, "out", "omega.json")
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    results = []
    work = tempfile.mkdtemp(prefix="omega-ann-")
    for ds in a.datasets.split(","):
        ddir = os.path.join(a.ann_dir, "data", ds)
        m, base, q, gt, gtd = load(ddir)
        metric = m["metric"]
        nq = min(a.nq, len(q))
        qpath = os.path.join(work, "q.f32")
        q[:nq].astype("<f4").tofile(qpath)
        qs_path = os.path.join(work, "q1.f32")
        q[: min(a.single_nq, nq)].astype("<f4").tofile(qs_path)
        basen, qn = base, q[:nq]
        if metric == "cosine":
            basen = base / np.linalg.norm(base, axis=1, keepdims=True)
            qn = qn / np.linalg.norm(qn, axis=1, keepdims=True)
        if a.usearch:
            for M in a.M.split(","):
                for T in [int(t) for t in a.threads.split(",")]:
                    results.append(run_usearch(a, ds, ddir, m, qpath, qs_path, nq, int(M), T, qn, basen, gt, gtd, work))
                    json.dump({"results": results}, open(out_path, "w"), indent=1)
        for kind in a.kinds.split(","):
            for M in (a.M.split(",") if kind == "hnsw" else [None]):
                for T in [int(t) for t in a.threads.split(",")]:
                    params = {"M": int(M), "efc": a.efc} if M else {}
                    spec = {"dataset": ds, "lib": "omega-" + kind, "params": params, "threads": T}
                    ix = os.path.join(work, "ix.omg")
                    cmd = [a.omega, "index", "build", "--input", os.path.join(ddir, "base.f32"), "--dim", str(m["d"]),
                           "--metric", metric, "--kind", kind, "--threads", str(T), "--out", ix]
                    if M:
                        cmd += ["--m", M, "--ef-construction", str(a.efc)]
                    c0 = foreign_snap()
                    t0 = time.perf_counter()
                    err, peak_kb = run_peak(cmd, work)
                    build_s = time.perf_counter() - t0
                    build_foreign = foreign_frac(c0, foreign_snap())
                    mem = re.search(r"([0-9.]+) MB in memory", err)
                    res = {"n": m["n"], "d": m["d"], "nq": nq, "metric": metric,
                           "data_mb": m["n"] * m["d"] * 4 / 2**20, "build_s": build_s,
                           "mem_mb": float(mem.group(1)) if mem else None,
                           "peak_mb": peak_kb / 1024 - m["n"] * m["d"] * 4 / 2**20,
                           "index_mb": os.path.getsize(ix) / 2**20, "build_foreign_cpu": build_foreign,
                           "sweep_name": "ef" if kind == "hnsw" else "none", "points": []}
                    job_c0 = foreign_snap()
                    for ef in ([int(e) for e in a.ef.split(",")] if kind == "hnsw" else [None]):
                        extra = ["--ef", str(ef)] if ef else []
                        ids_path = os.path.join(work, "ids.i32")
                        c1 = foreign_snap()
                        qps, cpu_qps = [], []
                        for _ in range(a.reps):
                            cpu0 = children_cpu_s()
                            e = run([a.omega, "index", "search", "--index", ix, "--queries", qpath, "--k", str(K),
                                     "--threads", str(T), "--output", ids_path] + extra)
                            qps.append(float(re.search(r"([0-9.]+) QPS", e).group(1)))
                            # the whole process's CPU time, loading the index included: a lower bound
                            cpu_qps.append(nq / max(children_cpu_s() - cpu0, 1e-9))
                        I = np.fromfile(ids_path, dtype="<i4").reshape(nq, K).astype(np.int64)
                        singles = []
                        for _ in range(a.reps):
                            e = run([a.omega, "index", "search", "--index", ix, "--queries", qs_path, "--k", str(K),
                                     "--threads", "1", "--one-at-a-time", "--output", os.path.join(work, "s.i32")]
                                    + extra)
                            singles.append((float(re.search(r"([0-9.]+) QPS", e).group(1)),
                                            float(re.search(r"p50 ([0-9.]+) ms", e).group(1)),
                                            float(re.search(r"p99 ([0-9.]+) ms", e).group(1))))
                        pt = {"param": ef, "batch_qps": statistics.median(qps), "batch_runs": qps,
                              "batch_cpu_qps": statistics.median(cpu_qps), "single_qps": statistics.median(s[0] for s in singles),
                              "p50_ms": statistics.median(s[1] for s in singles),
                              "p99_ms": statistics.median(s[2] for s in singles), "single_n": min(a.single_nq, nq),
                              "recall10": recall_at_k(I, qn, basen, gtd[:nq], metric),
                              "recall10_ids": float(np.mean([len(set(I[i]) & set(gt[i, :K])) / K for i in range(nq)])),
                              "foreign_cpu": foreign_frac(c1, foreign_snap())}
                        res["points"].append(pt)
                        print("  %s %s T=%d ef=%s recall10=%.4f batchQPS=%.0f singleQPS=%.0f p50=%.3fms p99=%.3fms "
                              "other-load=%.0f%%" % (ds, kind, T, ef, pt["recall10"], pt["batch_qps"], pt["single_qps"],
                                                     pt["p50_ms"], pt["p99_ms"], 100 * pt["foreign_cpu"]),
                              file=sys.stderr, flush=True)
                        if pt["recall10"] >= a.stop_recall:
                            break
                    res["job_foreign_cpu"] = foreign_frac(job_c0, foreign_snap())
                    print("%s %s %s T=%d: build %.2f s, %.1f MB" % (ds, kind, params, T, build_s, res["mem_mb"] or -1),
                          file=sys.stderr, flush=True)
                    results.append({"spec": spec, "result": res})
                    json.dump({"results": results}, open(out_path, "w"), indent=1)
    print(out_path)


if __name__ == "__main__":
    main()
