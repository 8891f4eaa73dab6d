#!/usr/bin/env bash
# Install Omega's build and test dependencies from Debian 12 packages.
set -euo pipefail
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  build-essential cmake pkg-config ca-certificates curl \
  libutf8proc-dev libjansson-dev libopenblas-dev libcmocka-dev
