#!/usr/bin/env bash
# The main job: build Omega, generate a small random-weight BERT model (real vocabulary, no
# download), start `omega serve` on it and show it answering; then keep serving until Ctrl-C.
#   tools/demo.sh [--once]     --once: stop after the demonstration
# Env: OMEGA_DEMO_MODEL (a model folder to serve instead), OMEGA_PORT (default 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build.sh release > /dev/null
model=${OMEGA_DEMO_MODEL:-build/demo-model}
port=${OMEGA_PORT:-8080}
[ -f "$model/model.safetensors" ] || build/omega-genmodel --out "$model" --shape tiny --seed 1
build/omega serve --model "$model" --port "$port" &
pid=$!
trap 'kill -TERM $pid 2> /dev/null; wait $pid' EXIT
for _ in $(seq 100); do curl -sf "localhost:$port/ready" > /dev/null && break; sleep 0.1; done
show() { echo; echo "\$ $*"; "$@" | cut -c1-160; echo; }
show curl -s "localhost:$port/info"
show curl -s "localhost:$port/embed" -H 'Content-Type: application/json' \
  -d '{"inputs": ["Omega turns text into embeddings.", "The quick brown fox."]}'
show curl -s "localhost:$port/v1/embeddings" -H 'Content-Type: application/json' \
  -d '{"input": "Vector search finds the nearest neighbours.", "model": "demo", "dimensions": 8}'
show curl -s "localhost:$port/metrics" -o /dev/null -w 'metrics: HTTP %{http_code}, %{size_download} bytes\n'
if [ "${1:-}" = --once ]; then exit 0; fi
echo "serving $model on http://localhost:$port (Ctrl-C stops it)"
wait $pid
