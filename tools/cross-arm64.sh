#!/usr/bin/env bash
# Cross-compile Omega for 64-bit ARM (AArch64: NEON kernels) with Debian's gcc-aarch64-linux-gnu
# and run its tests under qemu-user: tools/cross-arm64.sh [ctest arguments...]
# Without arguments: every C test (cmocka), the fuzz replays and the command-line test. The
# tests driven from Python against a running server (server/, ops/, model/test_families,
# install/) are not run under the emulator yet.
# Installs what it needs (root or sudo; arm64 libraries multiarch beside the host's). The
# tests are emulated: they check correctness, not speed. Build folder: build-arm64.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
need=(gcc-aarch64-linux-gnu qemu-user-static libc6:arm64 libutf8proc-dev:arm64 libjansson-dev:arm64
  libopenblas-dev:arm64 libcmocka-dev:arm64 libmicrohttpd-dev:arm64 libgnutls28-dev:arm64 libssl-dev:arm64
  zlib1g-dev:arm64 libonig5:arm64 libonig-dev)
if ! dpkg -s "${need[@]}" > /dev/null 2>&1; then
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
# Debian 12's libonig-dev is not co-installable across architectures (the arm64 one would
# remove the host's). Its header is the same for both, so a .pc file of our own names the
# arm64 runtime library.
pc=$PWD/build-arm64/pc
mkdir -p "$pc"
cat > "$pc/oniguruma.pc" << PC
Name: oniguruma
Description: Debian's arm64 libonig5 with the host's header
Version: $(dpkg-query -W -f '${Version}' libonig5:arm64 | cut -d- -f1)
Libs: -l:libonig.so.5
Cflags:
PC
export OMEGA_CROSS_PC_DIR=$pc
cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release \
  -DOMEGA_BUILD_BENCH=OFF -DOMEGA_CUDA=OFF > /dev/null
cmake --build build-arm64 -j "$(nproc 2>/dev/null || echo 2)"
[ $# -gt 0 ] || set -- -E '^(ops|install|arch)/|^server/(test_(server|http|auth|access|tls|search|errors|prometheus|openai_client)|hardening)$|^model/(torch_ref_selftest|test_families)$' \
  -R '^(backend|config|core|cuda|engine|index|metrics|model|server|text|fuzz|cli)/'
ctest --test-dir build-arm64 --output-on-failure --timeout 1200 -j "$(nproc 2>/dev/null || echo 2)" "$@"
