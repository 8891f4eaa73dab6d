#!/usr/bin/env bash
# Static analysis of the C sources: cppcheck (warnings and portability; every suppression is
# inline at its line with the reason) and clang's static analyzer through scan-build over a
# full build of the library, the server and the command line. Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
echo "== cppcheck"
cppcheck --enable=warning,portability --inline-suppr --std=c11 --error-exitcode=1 -q -j "$jobs" \
  -I include -I src --suppress=missingIncludeSystem src
echo "== scan-build"
rm -rf build-scan
scan-build -o build-scan/report cmake -S . -B build-scan -DCMAKE_BUILD_TYPE=Debug -DOMEGA_BUILD_TESTS=OFF \
  -DOMEGA_BUILD_BENCH=OFF -DOMEGA_CUDA=OFF > /dev/null
# --status-bugs: a finding fails the build; the report names the file, line and path.
# deadcode.DeadStores is off: it reports the `(rc = f()) || (rc = g())` chains that keep each
# failing call's code in rc whether or not a later line reads it, an idiom, not a defect.
scan-build -o build-scan/report --status-bugs -disable-checker deadcode.DeadStores \
  cmake --build build-scan -j "$jobs"
echo "== static analysis clean"
