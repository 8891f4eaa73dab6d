#!/usr/bin/env bash
# HTTP load on `omega serve`: single-sentence POST /embed at concurrency 1, 8 and 64 (wrk), with
# the adaptive batcher on and with batching off (EMBED_MAX_BATCH=1), same model and corpus.
#   bench/run_server.sh [MODEL_DIR]     (default: the MiniLM-L6-shaped model of setup_peers.sh,
#                                        else one generated with omega-genmodel --shape minilm)
# Env: DURATION (s per run, default 15), CONCURRENCY ("1 8 64"), THREADS (server inference
# threads, default 2), TARGET_MS (ACCEL_TARGET_LAT_MS, default 100). wrk runs on the same machine.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED_DIR=$(realpath "${SHARED_DIR:-$ROOT/../shared}")
export CORPUS=$SHARED_DIR/data/corpus_en.txt
DURATION=${DURATION:-15}
CONCURRENCY=${CONCURRENCY:-"1 8 64"}
THREADS=${THREADS:-2}
TARGET_MS=${TARGET_MS:-100}
"$ROOT/tools/build.sh" release > /dev/null
MODEL=${1:-/tmp/omega-peers/models/minilm}
if [ ! -f "$MODEL/model.safetensors" ]; then
  MODEL=$ROOT/build/bench-minilm
  [ -f "$MODEL/model.safetensors" ] || "$ROOT/build/omega-genmodel" --out "$MODEL" --shape minilm --seed 1
fi
command -v wrk > /dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
OUT=$ROOT/bench/out
mkdir -p "$OUT"
port=18181
echo "date $(date -I), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs; model $MODEL"
echo "| batching | concurrency | req/s | p50 ms | p95 ms | p99 ms | errors |"
echo "|---|---|---|---|---|---|---|"
for mode in adaptive off; do
  extra=(); [ "$mode" = off ] && extra=(--set EMBED_MAX_BATCH=1 --set EMBED_ADAPTIVE_BATCHING=false)
  "$ROOT/build/omega" serve --model "$MODEL" --port $port --set EMBED_THREADS="$THREADS" \
    --set ACCEL_TARGET_LAT_MS="$TARGET_MS" --set OMEGA_LOG_LEVEL=warn "${extra[@]}" &
  pid=$!
  for _ in $(seq 300); do curl -sf localhost:$port/ready > /dev/null && break; sleep 0.1; done
  for c in $CONCURRENCY; do
    t=$(( c < 2 ? 1 : 2 ))
    wrk -t$t -c"$c" -d"${DURATION}s" --timeout 30s -s "$ROOT/bench/wrk_embed.lua" "http://127.0.0.1:$port" \
      > "$OUT/wrk_${mode}_c$c.txt" 2>&1
    res=$(tail -1 "$OUT/wrk_${mode}_c$c.txt")
    echo "$res" > "$OUT/wrk_${mode}_c$c.json"
    python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(f'| $mode | $c | {d[\"req_per_s\"]:.1f} | {d[\"p50_ms\"]:.2f} | {d[\"p95_ms\"]:.2f} | {d[\"p99_ms\"]:.2f} | {d[\"errors\"]} |')" "$res"
  done
  curl -s localhost:$port/metrics | grep -E '^omega_batch_ceiling |^omega_embed_batch_size_(sum|count) ' | tr '\n' ' '
  echo
  kill -TERM $pid
  wait $pid
done
