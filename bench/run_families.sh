#!/usr/bin/env bash
# The model families next to ONNX Runtime and PyTorch on the same random-weight folders, corpus
# and threads, in one run: XLM-RoBERTa-base and MPNet-base shapes (768 x 12, omega-genmodel with
# the real tokenizer files of ../shared), batch 32 / 128 throughput and single-sentence latency;
# then a MiniLM-L6-shaped BERT cross-encoder (384 x 6, one label) scoring (query, passage) pairs
# (corpus lines 2k and 2k+1): pairs/s and single-pair latency. CROSS_ENCODER=0 skips it.
#   bench/run_families.sh          (after bench/setup_peers.sh, or a $PEERS_DIR with its npm install done)
# Env: FAMILIES (default "xlm-roberta mpnet"; empty: only the cross-encoder), MODES (Omega's CPU precisions, default
#      "fp32 bf16x3 bf16 int8"; one a CPU cannot run is skipped), THREADS (2), REPEATS (3),
#      LIMIT (500 corpus lines for throughput, as the peers' harness uses for base shapes),
#      PEERS_DIR (/tmp/omega-peers). The peers: onnxruntime-node on an ONNX export of the PyTorch
#      reference (bench/families/export_onnx.py), and that reference itself
#      (bench/families/bench_torch.py). Results: bench/out/families.json and a table on stdout.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED_DIR=$(realpath "${SHARED_DIR:-$ROOT/../shared}")
PEERS=${PEERS_DIR:-/tmp/omega-peers}
FAMILIES=${FAMILIES-"xlm-roberta mpnet"}
MODES=${MODES:-"fp32 bf16x3 bf16 int8"}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-3}
LIMIT=${LIMIT:-500}
CORPUS=$SHARED_DIR/data/corpus_en.txt
OUT=$ROOT/bench/out
mkdir -p "$OUT"
[ -d "$PEERS/node_modules/onnxruntime-node" ] || { echo "run bench/setup_peers.sh first" >&2; exit 1; }
"$ROOT/tools/build.sh" release > /dev/null
BUILD=$ROOT/build
rm -f "$OUT"/fam_*.json
for f in $FAMILIES; do
  dir=$PEERS/models/$f-base
  if [ ! -f "$dir/onnx/model.onnx" ]; then
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    OMEGA_SHARED_DIR=$SHARED_DIR "$BUILD/omega-genmodel" --out "$dir" --family "$f" --shape base --seed 7 > /dev/null
    /usr/bin/python3 "$ROOT/bench/families/export_onnx.py" "$dir" > /dev/null
  fi
  for m in $MODES; do
    echo "== omega $f $m" >&2
    "$BUILD/bench/bench_embed" --model "$dir" --corpus "$CORPUS" --threads "$THREADS" --repeats "$REPEATS" \
      --limit "$LIMIT" --precision "$m" --out "$OUT/fam_${f}_omega-$m.json" >&2 ||
      { echo "omega $m skipped on this CPU" >&2; rm -f "$OUT/fam_${f}_omega-$m.json"; }
  done
  echo "== onnxruntime $f" >&2
  (cd "$PEERS" && node bench_ort.mjs "$dir" "$CORPUS" --engine ort --threads "$THREADS" --batches 32,128 \
    --repeats "$REPEATS" --limit "$LIMIT" --out "$OUT/fam_${f}_ort.json" >&2)
  echo "== pytorch $f" >&2
  /usr/bin/python3 "$ROOT/bench/families/bench_torch.py" "$dir" "$CORPUS" --peers "$PEERS" --threads "$THREADS" \
    --repeats "$REPEATS" --limit "$LIMIT" --out "$OUT/fam_${f}_torch.json" > /dev/null
done

if [ "${CROSS_ENCODER:-1}" = 1 ]; then
  f=ce-minilm
  dir=$PEERS/models/$f
  if [ ! -f "$dir/onnx/model.onnx" ]; then
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    "$BUILD/omega-genmodel" --out "$dir" --family bert --head rerank --shape minilm --seed 9 > /dev/null
    /usr/bin/python3 "$ROOT/bench/families/export_onnx.py" "$dir" > /dev/null
  fi
  for m in $MODES; do
    echo "== omega $f $m" >&2
    "$BUILD/bench/bench_embed" --model "$dir" --corpus "$CORPUS" --pairs --threads "$THREADS" --repeats "$REPEATS" \
      --limit "$LIMIT" --precision "$m" --out "$OUT/fam_${f}_omega-$m.json" >&2 ||
      { echo "omega $m skipped on this CPU" >&2; rm -f "$OUT/fam_${f}_omega-$m.json"; }
  done
  echo "== onnxruntime $f" >&2
  node "$ROOT/bench/families/bench_ort_pairs.mjs" "$PEERS" "$dir" "$CORPUS" --threads "$THREADS" --repeats "$REPEATS" \
    --limit "$LIMIT" --out "$OUT/fam_${f}_ort.json" > /dev/null
  echo "== pytorch $f" >&2
  /usr/bin/python3 "$ROOT/bench/families/bench_torch.py" "$dir" "$CORPUS" --peers "$PEERS" --pairs \
    --threads "$THREADS" --repeats "$REPEATS" --limit "$LIMIT" --out "$OUT/fam_${f}_torch.json" > /dev/null
  FAMILIES="$FAMILIES $f"
fi

/usr/bin/python3 - "$OUT" "$FAMILIES" <<'PY'
import datetime, glob, json, os, sys
out, fams = sys.argv[1], sys.argv[2].split()
cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
def thr(r, b):
    t = r["throughput"].get(b)
    return t["sent_per_s"]["median"] if t else None
def lat(r, k):
    l = r.get("latency") or {}
    return l[k]["median"] if k in l else None
print(f"date {datetime.date.today()}, {cpu}, {os.cpu_count()} CPUs")
print("| model | engine | b32 sent (pairs)/s | b128 | 1-input p50 ms | p95 ms |")
print("|---|---|---|---|---|---|")
rows = []
for f in fams:
    res = {}
    for p in sorted(glob.glob(os.path.join(out, f"fam_{f}_*.json"))):
        e = os.path.basename(p)[len(f"fam_{f}_"):-5]
        r = json.load(open(p))
        res[e] = [thr(r, "32"), thr(r, "128"), lat(r, "p50_ms"), lat(r, "p95_ms")]
        rows.append({"family": f, "engine": e, **r})
        c = res[e]
        print(f"| {f} | {e} | " + " | ".join("-" if x is None else f"{x:.1f}" if i < 2 else f"{x:.2f}" for i, x in enumerate(c)) + " |")
    for o, om in res.items():
        if not o.startswith("omega"):
            continue
        for e in ("ort", "torch"):
            c = res.get(e)
            if c:
                print(f"{f}: {o} / {e}: b32 x{om[0] / c[0]:.2f}, b128 x{om[1] / c[1]:.2f}, p95 latency x{om[3] / c[3]:.2f} (lower is better)")
json.dump({"date": str(datetime.date.today()), "cpu": cpu, "rows": rows}, open(os.path.join(out, "families.json"), "w"), indent=2)
PY
