#!/usr/bin/env bash
# Configure and build one configuration: tools/build.sh [release|asan] (default release).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
jobs=$(nproc 2>/dev/null || echo 2)
case $kind in
  release) cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DOMEGA_BUILD_BENCH=ON > /dev/null ;;
  asan) cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DOMEGA_SANITIZE=ON -DOMEGA_BUILD_BENCH=OFF -DOMEGA_CUDA=OFF > /dev/null ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 2 ;;
esac
dir=build; [ "$kind" = asan ] && dir=build-asan
cmake --build "$dir" -j "$jobs"
