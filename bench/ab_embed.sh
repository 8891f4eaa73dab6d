#!/usr/bin/env bash
# Two builds of Omega side by side on the same models, corpus and threads, interleaved in
# rounds so drift of a shared VM hits both alike: is a change speed-neutral?
#   bench/ab_embed.sh BEFORE_BENCH_EMBED AFTER_BENCH_EMBED MODEL_DIR... 
# Env: MODES (default "fp32 int8"), ROUNDS (3), THREADS (2), LIMIT (500 sentences), BATCHES
# (32,128). Prints one row per model, mode and batch: the median sentences/s of each build
# over the rounds and after/before.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED_DIR=$(realpath "${SHARED_DIR:-$ROOT/../shared}")
[ $# -ge 3 ] || { sed -n 2,8p "$0" >&2; exit 2; }
before=$1 after=$2
shift 2
MODES=${MODES:-"fp32 int8"} ROUNDS=${ROUNDS:-3} THREADS=${THREADS:-2} LIMIT=${LIMIT:-500}
BATCHES=${BATCHES:-32,128}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq "$ROUNDS"); do
  for m in "$@"; do
    for p in $MODES; do
      for side in before after; do
        bin=$before; [ $side = after ] && bin=$after
        "$bin" --model "$m" --corpus "$SHARED_DIR/data/corpus_en.txt" --threads "$THREADS" --repeats 1 \
          --limit "$LIMIT" --batches "$BATCHES" --latency-n 0 --precision "$p" \
          --out "$out/$(basename "$m")_${p}_${side}_$r.json" > /dev/null 2>&1
      done
    done
  done
done
/usr/bin/python3 - "$out" "$MODES" "$BATCHES" "$@" <<'PY'
import json, os, statistics, sys
out, modes, batches, models = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(","), sys.argv[4:]
cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
print(f"CPU: {cpu}, {os.cpu_count()} vCPUs")
print("| model | precision | batch | before sent/s | after sent/s | after/before |")
print("|---|---|---|---|---|---|")
for m in models:
    name = os.path.basename(m.rstrip("/"))
    for p in modes:
        for b in batches:
            v = {}
            for side in ("before", "after"):
                xs = []
                for f in os.listdir(out):
                    if f.startswith(f"{name}_{p}_{side}_"):
                        xs.append(json.load(open(os.path.join(out, f)))["throughput"][b]["sent_per_s"]["median"])
                v[side] = statistics.median(xs) if xs else float("nan")
            print(f"| {name} | {p} | {b} | {v['before']:.1f} | {v['after']:.1f} | {v['after'] / v['before']:.3f} |")
PY
