#!/usr/bin/env bash
# Omega next to ONNX Runtime and PyTorch on the same models, corpus and threads, in one run.
#   bench/run_cpu.sh            (after bench/setup_peers.sh; builds Omega first)
# Env: SHAPES (default "minilm base"), ENGINES (peers, default "ort torch"), THREADS (2),
#      MODES (Omega's CPU precisions, default "auto fp32 bf16x3 bf16 int8"; one a CPU cannot run is skipped
#      with its reason), REPEATS (3), BASE_LIMIT (500 sentences for BERT-base throughput, as the
#      peers' harness), PEERS_DIR (/tmp/omega-peers), BUILD_DIR (an existing Release build to
#      use instead of building build/), RSS (1: one more ORT pass under /usr/bin/time for its
#      peak RSS, which the peers' harness does not report). Results: bench/out/cpu.json and a
#      table on stdout.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED_DIR=$(realpath "${SHARED_DIR:-$ROOT/../shared}")
PEERS=${PEERS_DIR:-/tmp/omega-peers}
SHAPES=${SHAPES:-"minilm base"}
ENGINES=${ENGINES:-"ort torch"}
THREADS=${THREADS:-2}
MODES=${MODES:-"auto fp32 bf16x3 bf16 int8"}
RSS=${RSS:-1}
REPEATS=${REPEATS:-3}
BASE_LIMIT=${BASE_LIMIT:-500}
CORPUS=$SHARED_DIR/data/corpus_en.txt
OUT=$ROOT/bench/out
mkdir -p "$OUT"
[ -d "$PEERS/models/minilm" ] || { echo "run bench/setup_peers.sh first" >&2; exit 1; }
if [ -n "${BUILD_DIR:-}" ]; then
  BUILD=$(realpath "$BUILD_DIR")
else
  "$ROOT/tools/build.sh" release > /dev/null
  BUILD=$ROOT/build
fi

rm -f "$OUT"/omega_*.json "$OUT"/ort_rss_*.txt
for s in $SHAPES; do
  lim=0; [ "$s" = base ] && lim=$BASE_LIMIT
  for m in $MODES; do
    echo "== omega $s $m" >&2
    "$BUILD/bench/bench_embed" --model "$PEERS/models/$s" --corpus "$CORPUS" --threads "$THREADS" \
      --repeats "$REPEATS" --limit "$lim" --precision "$m" --out "$OUT/omega_${s}_$m.json" >&2 ||
      { echo "omega $m skipped on this CPU" >&2; rm -f "$OUT/omega_${s}_$m.json"; }
  done
  if [ "$RSS" = 1 ] && [[ " $ENGINES " == *" ort "* ]]; then
    echo "== ort $s peak RSS" >&2
    (cd "$PEERS" && /usr/bin/time -f %M -o "$OUT/ort_rss_$s.txt" node bench_ort.mjs "models/$s" "$CORPUS" \
      --engine ort --threads "$THREADS" --batches 32,128 --latency-n 50 --repeats 1 --limit "$lim" \
      --out /dev/null > /dev/null)
  fi
done
echo "== peers: $ENGINES" >&2
(cd "$PEERS" && SHARED_DIR=$SHARED_DIR SHAPES="$SHAPES" ENGINES="$ENGINES" THREADS=$THREADS REPEATS=$REPEATS \
  BASE_LIMIT=$BASE_LIMIT bash bench_peers.sh > /dev/null)
cp "$PEERS/out/peers.json" "$OUT/peers.json"

/usr/bin/python3 - "$OUT" "$SHAPES" "$MODES" <<'PY'
import json, sys, os, platform, datetime
out, shapes, modes = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
peers = json.load(open(os.path.join(out, "peers.json")))
cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
rows = []
for s in shapes:
    for m in modes:
        p = os.path.join(out, f"omega_{s}_{m}.json")
        if os.path.exists(p):
            r = json.load(open(p))  # auto: the mode it chose in brackets
            rows.append((s, f"omega {m}" + (f" ({r.get('precision')})" if m == "auto" else ""), r))
    for r in peers["results"]:
        if r["shape"] == s:
            rss = os.path.join(out, f"ort_rss_{s}.txt")
            if r["engine"].startswith("onnxruntime") and os.path.exists(rss):
                r["peak_rss_mb"] = int(open(rss).read().split()[-1]) / 1024
            rows.append((s, r["engine"], r))
def thr(r, b):
    t = r["throughput"].get(b)
    return t["sent_per_s"]["median"] if t else None
def lat(r, k):
    l = r.get("latency") or {}
    return l[k]["median"] if k in l else None
print(f"date {datetime.date.today()}, {cpu}, {os.cpu_count()} CPUs, threads {peers.get('results', [{}])[0].get('threads', '?')}")
print(f"| shape | engine | sentences | b32 sent/s | b128 sent/s | 1-sentence p50 ms | p95 ms | peak RSS MB |")
print(f"|---|---|---|---|---|---|---|---|")
summary = {}
for s, e, r in rows:
    rss = r.get("peak_rss_mb") or r.get("rss_peak_mb") or r.get("peak_rss_MB")
    cells = [thr(r, "32"), thr(r, "128"), lat(r, "p50_ms"), lat(r, "p95_ms")]
    print(f"| {s} | {e} | {r.get('sentences')} | " + " | ".join("-" if c is None else f"{c:.1f}" if i < 2 else f"{c:.2f}" for i, c in enumerate(cells))
          + f" | {'-' if rss is None else round(rss, 1)} |")
    summary.setdefault(s, {})[e] = cells
print()
for s in shapes:
    for o, om in summary[s].items():
        if not o.startswith("omega"):
            continue
        for e, c in summary[s].items():
            if e.startswith("omega"):
                continue
            ratios = [f"b32 throughput x{om[0] / c[0]:.2f}" if c[0] else "", f"b128 throughput x{om[1] / c[1]:.2f}" if c[1] else "",
                      f"p95 latency x{om[3] / c[3]:.2f} (lower is better)" if c[3] else ""]
            print(f"{s}: {o} / {e}: " + ", ".join(x for x in ratios if x))
json.dump({"date": str(datetime.date.today()), "cpu": cpu, "rows": [{"shape": s, "engine": e, **r} for s, e, r in rows]},
          open(os.path.join(out, "cpu.json"), "w"), indent=2)
PY
