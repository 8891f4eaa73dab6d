#!/usr/bin/env bash
# Static analysis (cppcheck, scan-build), then build and run every test twice: the release
# build, then the AddressSanitizer + UndefinedBehaviorSanitizer build.
# Tests that need ../shared skip when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
tools/static-analysis.sh
for kind in release asan; do
  echo "== $kind build"
  tools/build.sh "$kind"
  dir=build; [ "$kind" = asan ] && dir=build-asan
  echo "== $kind tests"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$dir" --output-on-failure -j "$jobs"
done
echo "== all tests passed (release and sanitizers)"
