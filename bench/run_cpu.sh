#!/usr/bin/env bash
# Omega next to ONNX Runtime and PyTorch on the same models, corpus and threads, in one run.
#   bench/run_cpu.sh            (after bench/setup_peers.sh; builds Omega first)
# Env: SHAPES (default "minilm base"), ENGINES (peers, default "ort torch"), THREADS (2),
#      REPEATS (3), BASE_LIMIT (500 sentences for BERT-base throughput, as the peers' harness),
#      PEERS_DIR (/tmp/omega-peers). Results: bench/out/cpu.json and a table on stdout.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED_DIR=$(realpath "${SHARED_DIR:-$ROOT/../shared}")
PEERS=${PEERS_DIR:-/tmp/omega-peers}
SHAPES=${SHAPES:-"minilm base"}
ENGINES=${ENGINES:-"ort torch"}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-3}
BASE_LIMIT=${BASE_LIMIT:-500}
CORPUS=$SHARED_DIR/data/corpus_en.txt
OUT=$ROOT/bench/out
mkdir -p "$OUT"
[ -d "$PEERS/models/minilm" ] || { echo "run bench/setup_peers.sh first" >&2; exit 1; }
"$ROOT/tools/build.sh" release > /dev/null

for s in $SHAPES; do
  lim=0; [ "$s" = base ] && lim=$BASE_LIMIT
  echo "== omega $s" >&2
  "$ROOT/build/bench/bench_embed" --model "$PEERS/models/$s" --corpus "$CORPUS" --threads "$THREADS" \
    --repeats "$REPEATS" --limit "$lim" --out "$OUT/omega_$s.json" >&2
done
echo "== peers: $ENGINES" >&2
(cd "$PEERS" && SHARED_DIR=$SHARED_DIR SHAPES="$SHAPES" ENGINES="$ENGINES" THREADS=$THREADS REPEATS=$REPEATS \
  BASE_LIMIT=$BASE_LIMIT bash bench_peers.sh > /dev/null)
cp "$PEERS/out/peers.json" "$OUT/peers.json"

/usr/bin/python3 - "$OUT" "$SHAPES" <<'PY'
import json, sys, os, platform, datetime
out, shapes = sys.argv[1], sys.argv[2].split()
peers = json.load(open(os.path.join(out, "peers.json")))
cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
rows = []
for s in shapes:
    o = json.load(open(os.path.join(out, f"omega_{s}.json")))
    rows.append((s, "omega fp32", o))
    for r in peers["results"]:
        if r["shape"] == s:
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
    om = summary[s].get("omega fp32")
    for e, c in summary[s].items():
        if e == "omega fp32" or not om:
            continue
        ratios = [f"b32 throughput x{om[0] / c[0]:.2f}" if c[0] else "", f"b128 throughput x{om[1] / c[1]:.2f}" if c[1] else "",
                  f"p95 latency x{om[3] / c[3]:.2f} (lower is better)" if c[3] else ""]
        print(f"{s}: omega / {e}: " + ", ".join(x for x in ratios if x))
json.dump({"date": str(datetime.date.today()), "cpu": cpu, "rows": [{"shape": s, "engine": e, **r} for s, e, r in rows]},
          open(os.path.join(out, "cpu.json"), "w"), indent=2)
PY
