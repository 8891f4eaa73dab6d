#!/usr/bin/env bash
# Single-threaded tokenizer throughput, Omega next to HuggingFace tokenizers (npm binding of
# the Rust library), both pinned to one core, on the embedding corpus and the hostile corpus.
#   bench/run_tokenize.sh        (after bench/setup_peers.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED_DIR=$(realpath "${SHARED_DIR:-$ROOT/../shared}")
PEERS=${PEERS_DIR:-/tmp/omega-peers}
TOK=$SHARED_DIR/data/vocab/bert-base-uncased-tokenizer.json
"$ROOT/tools/build.sh" release > /dev/null
echo "date $(date -I), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), pinned to CPU 0"
for corpus in "$SHARED_DIR/data/corpus_en.txt" "$SHARED_DIR/data/tokenizer/dev.txt"; do
  echo "== $(basename "$corpus")"
  taskset -c 0 "$ROOT/build/bench/bench_tokenize" "$TOK" "$corpus" 5
  TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 taskset -c 0 node "$ROOT/bench/hf_tokenize.mjs" "$PEERS" "$TOK" "$corpus" 5
done
