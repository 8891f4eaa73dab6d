#!/usr/bin/env python3
"""Markdown summary of a bench/gpu/run.sh output folder: Omega vs sentence-transformers
fp16 per shape and batch, latency, and the flat index vs torch.   summary.py OUT SHAPE..."""
import json, os, sys

out, shapes = sys.argv[1], sys.argv[2:]
def J(f):
    try:
        return json.load(open(os.path.join(out, f)))
    except (OSError, ValueError):
        return None  # the step failed: its row shows "-"
gpu = open(os.path.join(out, "gpu.txt")).read().strip() if os.path.exists(os.path.join(out, "gpu.txt")) else "?"
print(f"GPU: {gpu}\n")
print("| shape | batch | Omega bf16 sent/s | Omega fp16 sent/s | ST fp16 sent/s | Omega best / ST |")
print("|---|---|---|---|---|---|")
st_sps = lambda st, b: (lambda v: v if isinstance(v, (int, float)) else v.get("median"))(st["throughput"][b]["sent_per_s"])
for s in shapes:
    ob, of, st = J(f"omega_{s}_bf16.json"), J(f"omega_{s}_fp16.json"), J(f"st_{s}_fp16.json")
    for b in ("32", "128", "512"):
        x = ob["throughput"].get(b, {}).get("sent_per_s", {}).get("median") if ob else None
        y = of["throughput"].get(b, {}).get("sent_per_s", {}).get("median") if of else None
        z = st_sps(st, b) if st else None
        best = max(v for v in (x, y) if v) if (x or y) else None
        r = f"{best / z:.2f}x" if best and z else "-"
        f = lambda v: f"{v:.0f}" if v else "-"
        print(f"| {s} | {b} | {f(x)} | {f(y)} | {f(z)} | {r} |")
print("\n| shape | Omega bf16 1-sentence p50/p95 ms | ST fp16 p50/p95 ms | Omega bf16 at half peak load: rate, p50/p95/p99 ms |")
print("|---|---|---|---|")
for s in shapes:
    ob, st = J(f"omega_{s}_bf16.json"), J(f"st_{s}_fp16.json")
    o = f"{ob['latency']['p50_ms']['median']:.2f} / {ob['latency']['p95_ms']['median']:.2f}" if ob else "-"
    sl = st.get("latency_ms") if st else None
    t = f"{sl['p50']:.2f} / {sl['p95']:.2f}" if sl else "-"
    ol = ob.get("open_loop") if ob else None
    l = f"{ol['rate']:.0f} req/s: {ol['p50_ms']:.2f} / {ol['p95_ms']:.2f} / {ol['p99_ms']:.2f}" if ol else "-"
    print(f"| {s} | {o} | {t} | {l} |")
print("\nOpen loop at half of peak load in detail, and CUDA graphs on (EMBED_CUDA_GRAPH_TOKENS=256) against off (0), bf16:\n")
print("| shape | dtype | graphs | 1-sentence p50/p95 ms | rate req/s | p50/p95/p99 ms | p95 after 1 s | batches, mean seqs | batch run p50/p95 ms | captures / replays | buffer growths |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for s in shapes:
    for dt, tag, f in (("bf16", "on", f"omega_{s}_bf16.json"), ("fp16", "on", f"omega_{s}_fp16.json"),
                       ("bf16", "off", f"omega_{s}_bf16_nographs.json")):
        r = J(f)
        ol = r.get("open_loop") if r else None
        if not ol or "batches" not in ol:
            continue
        lat = r["latency"]
        print(f"| {s} | {dt} | {tag} | {lat['p50_ms']['median']:.2f} / {lat['p95_ms']['median']:.2f} | {ol['rate']:.0f} | "
              f"{ol['p50_ms']:.2f} / {ol['p95_ms']:.2f} / {ol['p99_ms']:.2f} | {ol['p95_after_1s_ms']:.2f} | "
              f"{ol['batches']}, {ol['mean_batch_seqs']:.1f} | {ol['run_p50_ms']:.2f} / {ol['run_p95_ms']:.2f} | "
              f"{ol['graph_captures']} / {ol['graph_replays']} | {ol['buffer_growths']} |")
fo, ft = J("flat_omega.json"), J("flat_torch.json")
if fo:
    print(f"\nFlat exact search, {fo['n']} x {fo['dim']} ({fo['metric']}), {fo['nq']} queries, k={fo['k']}:\n")
    print("| storage | Omega QPS | torch QPS | ratio | Omega recall | torch recall | Omega 1-query p50/p99 ms | torch 1-query p50/p99 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for r in fo["runs"]:
        t = next((x for x in (ft or {}).get("runs", []) if x["storage"] == r["storage"]), None)
        ratio = f"{r['qps'] / t['qps']:.2f}x" if t else "-"
        print(f"| {r['storage']} | {r['qps']:.0f} | {t['qps']:.0f} | {ratio} | {r['recall']:.4f} | {t['recall']:.4f} | "
              f"{r['p50_ms']:.3f} / {r['p99_ms']:.3f} | {t['p50_ms']:.3f} / {t['p99_ms']:.3f} |" if t else
              f"| {r['storage']} | {r['qps']:.0f} | - | - | {r['recall']:.4f} | - | {r['p50_ms']:.3f} / {r['p99_ms']:.3f} | - |")
