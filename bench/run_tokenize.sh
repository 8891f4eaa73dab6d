#!/usr/bin/env bash
# Single-threaded tokenizer throughput, Omega next to HuggingFace tokenizers (npm binding of
# the Rust library), both pinned to one core.
#   bench/run_tokenize.sh            BERT (bert-base-uncased) on the embedding and hostile corpora
#                                    (after bench/setup_peers.sh)
#   bench/run_tokenize.sh families   every tokenizer.json of ../shared/data/tokenizers on both
#                                    corpora, against HF tokenizers 0.23.2 (installed into
#                                    $PEERS_DIR/tokenizers-0.23 on first use)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED_DIR=$(realpath "${SHARED_DIR:-$ROOT/../shared}")
PEERS=${PEERS_DIR:-/tmp/omega-peers}
"$ROOT/tools/build.sh" release > /dev/null
echo "date $(date -I), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), pinned to CPU 0"
run() { # TOKENIZER_JSON PEERS_DIR
  for corpus in "$SHARED_DIR/data/corpus_en.txt" "$SHARED_DIR/data/tokenizer/dev.txt"; do
    echo "== $(basename "$(dirname "$1")")/$(basename "$1") on $(basename "$corpus")"
    taskset -c 0 "$ROOT/build/bench/bench_tokenize" "$1" "$corpus" 5
    TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 taskset -c 0 node "$ROOT/bench/hf_tokenize.mjs" "$2" "$1" "$corpus" 5
  done
}
if [ "${1:-}" = families ]; then
  HF="$PEERS/tokenizers-0.23"
  [ -d "$HF/node_modules/tokenizers" ] || { mkdir -p "$HF" && (cd "$HF" && npm init -y > /dev/null &&
    npm install --no-audit --no-fund tokenizers@0.23.2 > /dev/null); }
  for dir in "$SHARED_DIR"/data/tokenizers/*/; do
    run "$dir/tokenizer.json" "$HF"
  done
else
  run "$SHARED_DIR/data/vocab/bert-base-uncased-tokenizer.json" "$PEERS"
fi
