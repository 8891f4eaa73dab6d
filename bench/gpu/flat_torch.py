#!/usr/bin/env python3
"""Exact k-NN on the GPU with PyTorch (matmul + topk), the peer of Omega's GPU flat index,
on the files bench_gpu_flat wrote: same data, same queries, fp32 and fp16 storage.
    flat_torch.py DIR N DIM NQ K [--out F.json]"""
import json, sys, time

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"SKIP: {e}", file=sys.stderr)
    sys.exit(77)
d, n, dim, nq, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else None
x = torch.from_numpy(np.fromfile(f"{d}/base.f32", dtype=np.float32).reshape(n, dim)).cuda()
q = torch.from_numpy(np.fromfile(f"{d}/queries.f32", dtype=np.float32).reshape(nq, dim))
truth = np.fromfile(f"{d}/truth.i64", dtype=np.int64).reshape(-1, k)
res = {"engine": "torch-matmul-topk", "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0), "runs": []}
chunk = max(1, min(4096, (512 << 20) // (n * 4)))
for dt in (torch.float32, torch.float16):
    xs = x.to(dt)
    def search(qh):
        ids = []
        for i in range(0, qh.shape[0], chunk):
            qq = qh[i : i + chunk].cuda(non_blocking=True).to(dt)
            s = (qq @ xs.T).float()
            ids.append(torch.topk(s, k, dim=1).indices)
        r = torch.cat(ids).cpu()
        return r
    search(q[:64])
    best = 0
    for _ in range(3):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        ids = search(q)
        best = max(best, nq / (time.perf_counter() - t0))
    ns = truth.shape[0]
    got = ids[:ns].numpy()
    recall = sum(len(set(got[i]) & set(truth[i])) for i in range(ns)) / (ns * k)
    lat = []
    for i in range(200):
        t0 = time.perf_counter()
        search(q[i : i + 1])
        lat.append((time.perf_counter() - t0) * 1e3)
    lat.sort()
    r = {"storage": "fp32" if dt == torch.float32 else "fp16", "qps": best, "recall": recall,
         "p50_ms": lat[100], "p99_ms": lat[198]}
    res["runs"].append(r)
    print(f"torch flat {r['storage']}: batch {best:.0f} QPS, recall@{k} {recall:.4f}, 1 query p50 {lat[100]:.3f} ms p99 {lat[198]:.3f} ms", flush=True)
if out:
    json.dump(res, open(out, "w"), indent=1)
