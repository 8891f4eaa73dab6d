#!/usr/bin/env bash
# Where the CPU encoder's time goes: samples bench_embed under `perf record` (the cpu-clock
# software event, which works in VMs without hardware counters) and groups the samples by
# operation, for each precision mode, as a Markdown table.
#   tools/cpu_profile.sh MODEL_DIR [MODES] [BATCH]
#     MODES: "fp32 bf16 int8" by default; BATCH: 32. Env: BUILD_DIR (build), SHARED_DIR,
#     LIMIT (sentences, default 500), THREADS (2).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED_DIR=$(realpath "${SHARED_DIR:-$ROOT/../shared}")
MODEL=${1:?usage: tools/cpu_profile.sh MODEL_DIR [MODES] [BATCH]}
MODES=${2:-"fp32 bf16 int8"}
BATCH=${3:-32}
BUILD=${BUILD_DIR:-$ROOT/build}
LIMIT=${LIMIT:-500}
THREADS=${THREADS:-2}
command -v perf > /dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for m in $MODES; do
  perf record -q -e cpu-clock -F 4000 -o "$tmp/$m.data" -- "$BUILD/bench/bench_embed" --model "$MODEL" \
    --corpus "$SHARED_DIR/data/corpus_en.txt" --batches "$BATCH" --latency-n 0 --repeats 1 --limit "$LIMIT" \
    --threads "$THREADS" --precision "$m" --out "$tmp/$m.json" > /dev/null 2>&1 ||
    { echo "$m: bench_embed failed (mode not available on this CPU?)" >&2; continue; }
  perf report -q -i "$tmp/$m.data" --no-children --sort symbol --stdio 2> /dev/null > "$tmp/$m.txt"
done
/usr/bin/python3 - "$tmp" "$MODES" "$BATCH" <<'PY'
import os, re, sys, json
tmp, modes, batch = sys.argv[1], sys.argv[2].split(), sys.argv[3]
# first matching pattern wins; symbols are Omega's kernel names (see docs/CPU.md)
groups = [
    ("weight packing at load (once)", r"pack_"),
    ("activation conversion (int8, bf16, bf16x3)", r"quant|bf16_rows|bf16x3_rows|convert_rows"),
    ("GEMM (packed kernels)", r"gemm|sgemm|kernel_"),
    ("attention (QK^T, softmax, PV)", r"attn|attention|softmax"),
    ("bias + residual + LayerNorm", r"layernorm|ln_rows|add_ln"),
    ("GELU", r"act_|gelu|erf"),
    ("embeddings + pooling", r"embed_gather|pool_and|normalize|gather"),
    ("tokenizer", r"tok|vocab|wordpiece|utf8|normali[sz]e_text|bert_pre|basic_"),
    ("thread pool (hand-offs, polling)", r"pool_|worker|futex|sched_yield|pthread|spin"),
    ("memory copies", r"memcpy|memmove|memset"),
]
rows, totals = {}, {}
for m in modes:
    p = os.path.join(tmp, m + ".txt")
    if not os.path.exists(p):
        continue
    acc = {}
    for line in open(p):
        mt = re.match(r"\s*([\d.]+)%\s+(\[.\])\s+(.*)", line)
        if not mt:
            continue
        pct, space, sym = float(mt.group(1)), mt.group(2), mt.group(3).strip()
        key = "Linux kernel (syscalls, page faults)" if space == "[k]" else \
            next((name for name, rx in groups if re.search(rx, sym, re.I)), "other")
        acc[key] = acc.get(key, 0.0) + pct
    rows[m] = acc
    j = json.load(open(os.path.join(tmp, m + ".json")))
    totals[m] = j["throughput"][batch]["sent_per_s"]["median"]
names = [g for g, _ in groups] + ["Linux kernel (syscalls, page faults)", "other"]
print(f"| share of CPU samples, batch {batch} | " + " | ".join(rows) + " |")
print("|---|" + "---|" * len(rows))
for n in names:
    if any(r.get(n, 0) >= 0.05 for r in rows.values()):
        print(f"| {n} | " + " | ".join(f"{r.get(n, 0):.1f}%" for r in rows.values()) + " |")
print("| sentences/s in the profiled run | " + " | ".join(f"{totals[m]:.1f}" for m in rows) + " |")
PY
