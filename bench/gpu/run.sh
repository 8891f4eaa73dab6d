#!/usr/bin/env bash
# The GPU verification, one prepared run on a machine with an NVIDIA GPU (under 8 minutes
# on an H100):
#   1. build (unless $BUILD already holds omega and libomega-cuda.so),
#   2. backend-ops, flat-index and whole-engine tests on the GPU against the CPU reference
#      (tests/cuda/test_cuda) and the fault-injection route tests,
#   3. accuracy of every GPU precision against the CPU fp32 path over the corpus
#      (cosine >= 0.9999 for fp32/tf32, >= 0.999 for bf16/fp16),
#   4. throughput at batch 32/128/512, single-sentence latency, and latency at half of peak
#      load, for the MiniLM-L6 and BERT-base shapes, next to sentence-transformers fp16 on
#      the same random-weight models; the latencies again without CUDA graphs (bf16),
#   5. the GPU flat index against PyTorch matmul + topk on the same 1M x 384 vectors,
#   6. a summary table with ratios (summary.md).
# Env: BUILD (default build-gpu), SHARED_DIR (default ../shared), OUT_DIR (bench/out/gpu),
#      WORK (scratch, /tmp/omega-gpu), SHAPES ("minilm base"), PYTHON (python3),
#      FLAT_N (1000000), QUICK=1 (smaller runs, for a smoke test), OMEGA_LIB_PATH (extra
#      library folders for Omega's binaries only, e.g. a prebuilt bundle's dependencies),
#      STEPS (default "tests accuracy speed flat": the parts to run).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-gpu}
SHARED_DIR=$(cd "${SHARED_DIR:-$ROOT/../shared}" 2> /dev/null && pwd) || { echo "run.sh: SHARED_DIR not found" >&2; exit 2; }
OUT=${OUT_DIR:-$ROOT/bench/out/gpu}
WORK=${WORK:-/tmp/omega-gpu}
PY=${PYTHON:-python3}
SHAPES=${SHAPES:-"minilm base"}
FLAT_N=${FLAT_N:-1000000}
CORPUS=$SHARED_DIR/data/corpus_en.txt
REPEATS=3
[ "${QUICK:-0}" = 1 ] && { REPEATS=1; FLAT_N=100000; }
mkdir -p "$OUT" "$WORK/models"
# Omega's programs get OMEGA_LIB_PATH; Python (torch) keeps the system's libraries.
om() { LD_LIBRARY_PATH="${OMEGA_LIB_PATH:-}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"; }
STEPS=${STEPS:-"tests accuracy speed flat"}
want() { case " $STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
fail=0
step() { echo "== $* ($(date +%T))" >&2; }
check() { [ "$1" -eq 0 ] || { echo "!! FAILED: $2" >&2; fail=1; }; }

command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1 || { echo "run.sh: no NVIDIA GPU here" >&2; exit 77; }
if [ ! -x "$BUILD/omega" ] || [ ! -f "$BUILD/libomega-cuda.so" ]; then
  step "build"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DOMEGA_BUILD_BENCH=ON > /dev/null &&
    cmake --build "$BUILD" -j "$(nproc)" > "$OUT/build.log" 2>&1 || { echo "build failed: $OUT/build.log" >&2; exit 1; }
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

if want tests; then
step "tests on the GPU against the CPU reference"
om "$BUILD/tests/test_cuda" 2>&1 | tee "$OUT/test_cuda.txt"
check "${PIPESTATUS[0]}" test_cuda
om "$BUILD/tests/test_gpu_route" > "$OUT/test_gpu_route.txt" 2>&1
check $? test_gpu_route
om "$BUILD/tests/test_gpu_flat" 2>&1 | tail -3 | tee "$OUT/test_gpu_flat.txt"
check "${PIPESTATUS[0]}" test_gpu_flat
fi

step "models"
seed=1
for s in $SHAPES; do
  m=$WORK/models/$s
  if [ ! -f "$m/model.safetensors" ]; then
    SHARED_DIR=$SHARED_DIR $PY "$SHARED_DIR/bench/peers/gen_model.py" --shape "$s" --seed $seed --out "$m" --no-onnx > /dev/null 2>&1 ||
      om "$BUILD/omega-genmodel" --out "$m" --shape "$s" --seed $seed > /dev/null
  fi
  seed=$((seed + 1))
done

if want accuracy; then
step "accuracy over the corpus: GPU precisions vs CPU fp32"
: > "$OUT/accuracy.txt"
for s in $SHAPES; do
  m=$WORK/models/$s
  dim=$(om "$BUILD/omega" model info --model "$m" 2> /dev/null | sed -n "s/^embedding dimension: *\([0-9]*\)/\1/p")
  [ -n "$dim" ] || dim=$([ "$s" = base ] && echo 768 || echo 384)
  om "$BUILD/omega" embed --model "$m" --input "$CORPUS" --format f32 --accel cpu --quiet > "$WORK/$s.cpu.f32"
  check $? "cpu embed $s"
  for dt in fp32 tf32 bf16 fp16; do
    bound=0.999; { [ $dt = fp32 ] || [ $dt = tf32 ]; } && bound=0.9999
    om "$BUILD/omega" embed --model "$m" --input "$CORPUS" --format f32 --accel gpu --dtype $dt --batch 128 --quiet \
      > "$WORK/$s.$dt.f32"
    check $? "gpu embed $s $dt"
    $PY "$ROOT/bench/gpu/compare.py" "$WORK/$s.cpu.f32" "$WORK/$s.$dt.f32" "$dim" $bound "$s $dt" | tee -a "$OUT/accuracy.txt"
    check "${PIPESTATUS[0]}" "accuracy $s $dt"
  done
done
fi

if want speed; then
step "throughput and latency: Omega vs sentence-transformers fp16"
for s in $SHAPES; do
  m=$WORK/models/$s
  for dt in bf16 fp16; do
    om "$BUILD/bench/bench_embed" --model "$m" --corpus "$CORPUS" --accel gpu --dtype $dt --whole --slots 2 \
      --batches 32,128,512 --repeats $REPEATS --latency-n 300 --load-fraction 0.5 --target-ms 10 --threads "$(nproc)" \
      --out "$OUT/omega_${s}_$dt.json"
    check $? "bench_embed $s $dt"
  done
  # the same latency runs without CUDA graphs, at the same open-loop rate, for the on/off comparison
  peak=$($PY -c "import json,sys; t=json.load(open(sys.argv[1]))['throughput']; print(max(v['sent_per_s']['median'] for v in t.values()))" \
    "$OUT/omega_${s}_bf16.json" 2> /dev/null)
  if [ -n "$peak" ]; then
    om "$BUILD/bench/bench_embed" --model "$m" --corpus "$CORPUS" --accel gpu --dtype bf16 --slots 2 --batches "" \
      --peak "$peak" --repeats $REPEATS --latency-n 300 --load-fraction 0.5 --target-ms 10 --threads "$(nproc)" \
      --graph-tokens 0 --out "$OUT/omega_${s}_bf16_nographs.json"
    check $? "bench_embed $s bf16 without graphs"
  fi
  $PY "$SHARED_DIR/bench/peers/gpu_st_bench.py" "$m" "$CORPUS" --dtype fp16 --batches 32,128,512 --repeats $REPEATS \
    --out "$OUT/st_${s}_fp16.json" > /dev/null
  check $? "sentence-transformers $s"
done
fi

if want flat; then
step "GPU flat index vs torch matmul+topk ($FLAT_N x 384, 10000 queries)"
mkdir -p "$WORK/flat"
om "$BUILD/bench/bench_gpu_flat" --n "$FLAT_N" --dim 384 --nq 10000 --k 10 --metric ip --write-data "$WORK/flat" \
  --out "$OUT/flat_omega.json"
check $? bench_gpu_flat
$PY "$ROOT/bench/gpu/flat_torch.py" "$WORK/flat" "$FLAT_N" 384 10000 10 --out "$OUT/flat_torch.json"
check $? flat_torch
# the same vectors through a gpu_flat collection (exact: GPU candidates, CPU re-rank) via the CLI
om "$BUILD/omega" index build --input "$WORK/flat/base.f32" --dim 384 --metric ip --kind gpu_flat \
  --out "$WORK/flat/g.omg" > /dev/null 2>&1
check $? "index build gpu_flat"
om "$BUILD/omega" index search --index "$WORK/flat/g.omg" --queries "$WORK/flat/queries.f32" --k 10 \
  --output "$WORK/flat/g.i32" 2>&1 | grep -v "^20..-" | tail -4 | tee "$OUT/index_cli_gpu_flat.txt"
check "${PIPESTATUS[0]}" "index search gpu_flat"
fi

step "summary"
$PY "$ROOT/bench/gpu/summary.py" "$OUT" $SHAPES | tee "$OUT/summary.md"
[ $fail = 0 ] && echo "ALL GPU CHECKS PASSED" || echo "SOME GPU CHECKS FAILED"
exit $fail
