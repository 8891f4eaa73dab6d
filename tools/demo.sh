#!/usr/bin/env bash
# The main job: build Omega, generate a small random-weight BERT model (real vocabulary,
# no download), and embed a few sentences with it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build.sh release
model=${OMEGA_DEMO_MODEL:-build/demo-model}
[ -f "$model/model.safetensors" ] || build/omega-genmodel --out "$model" --shape tiny --seed 1
build/omega model info --model "$model"
echo
printf '%s\n' "Omega turns text into embeddings." "The quick brown fox jumps over the lazy dog." \
  "Vector search finds the nearest neighbours." |
  build/omega embed --model "$model" --format jsonl |
  cut -c1-110 | sed 's/$/ .../'
