#!/usr/bin/env bash
# Omega's vector search next to FAISS, hnswlib and usearch, in one run, same data and
# protocol (../shared/bench/ann):
#   bench/ann/run.sh            (ANN_DIR: a writable copy with data/, default /tmp/omega-ann;
#                                DATASETS, THREADS, USEARCH_DIR (a folder where
#                                `npm install usearch` was run; skipped when absent),
#                                PEER_LIBS (faiss-flat,hnswlib), KINDS (Omega's: flat,hnsw),
#                                NQ (queries timed per call, default 1000))
# Writes ANN_DIR/out/{ann_peers,omega}.json and bench/out/ann.md (the merged table).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED_DIR=$(realpath "${SHARED_DIR:-$ROOT/../shared}")
ANN=${ANN_DIR:-/tmp/omega-ann}
DATASETS=${DATASETS:-fashion-mnist-784,synth-384-100k}
THREADS=${THREADS:-1,2}
PEER_LIBS=${PEER_LIBS:-faiss-flat,hnswlib}
KINDS=${KINDS:-flat,hnsw}
NQ=${NQ:-1000}
US=${USEARCH_DIR:-/tmp/usearch-bench}
if [ ! -d "$ANN/data" ]; then
  mkdir -p "$ANN" && cp -rn "$SHARED_DIR/bench/ann/." "$ANN/"
  (cd "$ANN" && ./setup.sh && /usr/bin/python3 prepare_data.py && /usr/bin/python3 gen_synth.py --n 100000)
fi
"$ROOT/tools/build.sh" release > /dev/null
cp "$ROOT/build/omega" "$ANN/omega-bin" # a rebuild during the run must not change what is measured
(cd "$ANN" && /usr/bin/python3 bench_ann.py --datasets "$DATASETS" --threads "$THREADS" --libs "$PEER_LIBS" --nq "$NQ" \
  --M 16 --ef 12,16,24,32,48,64,96,128,192,256 --quiet-wait 30 --point-retries 1)
usearch=()
[ -d "$US/node_modules/usearch" ] && usearch=(--usearch "$US")
/usr/bin/python3 "$ROOT/bench/ann/bench_omega.py" --ann-dir "$ANN" --omega "$ANN/omega-bin" --datasets "$DATASETS" \
  --threads "$THREADS" --kinds "$KINDS" --nq "$NQ" --M 16 --ef 10,12,16,24,32,48,64,96,128,192,256 "${usearch[@]}"
mkdir -p "$ROOT/bench/out"
(cd "$ANN" && /usr/bin/python3 bench_ann.py --table --merge out/omega.json) | tee "$ROOT/bench/out/ann.md"
cp "$ANN/out/ann_peers.json" "$ANN/out/omega.json" "$ROOT/bench/out/"
