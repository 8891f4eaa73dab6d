#!/usr/bin/python3
"""Omega's HNSW next to hnswlib on one data set, one search thread, in one command:

  /usr/bin/python3 bench/ann/hnsw_side_by_side.py --data DIR --omega build/omega [--reps 25]

DIR is a data set of ../shared/bench/ann (base.f32, query.f32, gt.i32, meta.json), e.g. one made
by its gen_synth.py with a low dimension (`gen_synth.py --n 300000 --d 100`, the low-dimensional
cosine case of docs). Both build with M 16, ef_construction 200 on 2 threads; then, for each ef,
the queries repeated --reps times go through one call of each (Omega: `omega index search`,
which times only the search; hnswlib: `knn_query` with one thread), best of 5 runs each, and
recall@10 of the first copy against the ground truth. Prints a Markdown table with the ratio."""
import argparse
import json
import os
import re
import subprocess
import tempfile
import time

import hnswlib
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--omega", default="build/omega")
    ap.add_argument("--reps", type=int, default=25)
    ap.add_argument("--ef", default="10,12,16,24,32,48,64,96,128,192,256")
    a = ap.parse_args()
    meta = json.load(open(os.path.join(a.data, "meta.json")))
    d, metric = meta["d"], meta["metric"]
    base = np.fromfile(os.path.join(a.data, "base.f32"), dtype="<f4").reshape(-1, d)
    q = np.fromfile(os.path.join(a.data, "query.f32"), dtype="<f4").reshape(-1, d)
    nq = len(q)
    gt = np.fromfile(os.path.join(a.data, "gt.i32"), dtype="<i4").reshape(nq, -1)[:, :10]
    work = tempfile.mkdtemp(prefix="omega-hnsw-sbs-")
    qfile, ix, ids = (os.path.join(work, x) for x in ("q.f32", "omega.idx", "ids.i32"))
    np.tile(q, (a.reps, 1)).astype("<f4").tofile(qfile)

    t = time.perf_counter()
    subprocess.run([a.omega, "index", "build", "--input", os.path.join(a.data, "base.f32"), "--dim", str(d),
                    "--metric", metric, "--kind", "hnsw", "--m", "16", "--ef-construction", "200", "--threads", "2",
                    "--out", ix], check=True, capture_output=True)
    omega_build = time.perf_counter() - t
    p = hnswlib.Index(space="cosine" if metric == "cosine" else "l2", dim=d)
    t = time.perf_counter()
    p.init_index(max_elements=len(base), M=16, ef_construction=200)
    p.set_num_threads(2)
    p.add_items(base)
    peer_build = time.perf_counter() - t
    p.set_num_threads(1)
    qq = np.tile(q, (a.reps, 1))

    def recall(found):
        return float(np.mean([len(set(found[i]) & set(gt[i])) / 10 for i in range(nq)]))

    def omega(ef):
        best = 0.0
        for _ in range(5):
            err = subprocess.run([a.omega, "index", "search", "--index", ix, "--queries", qfile, "--k", "10", "--ef",
                                  str(ef), "--threads", "1", "--output", ids], capture_output=True, text=True,
                                 check=True).stderr
            best = max(best, float(re.search(r"([0-9.]+) QPS", err).group(1)))
        return best, recall(np.fromfile(ids, dtype="<i4").reshape(-1, 10)[:nq])

    def peer(ef):
        p.set_ef(ef)
        best, labels = 0.0, None
        for _ in range(5):
            t0 = time.perf_counter()
            labels, _ = p.knn_query(qq, k=10)
            best = max(best, len(qq) / (time.perf_counter() - t0))
        return best, recall(labels[:nq])

    print(f"{os.path.basename(a.data.rstrip('/'))}: {len(base)} x {d} {metric}, {nq} queries x {a.reps}; "
          f"build (2 threads) Omega {omega_build:.1f} s, hnswlib {peer_build:.1f} s")
    print("| ef | Omega QPS | recall@10 | hnswlib QPS | recall@10 | Omega / hnswlib |")
    print("|---|---|---|---|---|---|")
    for ef in (int(x) for x in a.ef.split(",")):
        (oq, orc), (hq, hr) = omega(ef), peer(ef)
        print(f"| {ef} | {oq:,.0f} | {orc:.4f} | {hq:,.0f} | {hr:.4f} | **{oq / hq:.2f}x** |", flush=True)


if __name__ == "__main__":
    main()
