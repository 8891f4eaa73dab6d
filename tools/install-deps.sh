#!/usr/bin/env bash
# Install Omega's build and test dependencies from Debian 12 packages.
set -euo pipefail
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
pkgs=(build-essential cmake pkg-config ca-certificates curl
  libutf8proc-dev libonig-dev libjansson-dev libopenblas-dev libcmocka-dev libmicrohttpd-dev libgnutls28-dev libssl-dev
  zlib1g-dev
  # static analysis (tools/static-analysis.sh) and the libFuzzer builds of the fuzz targets
  cppcheck clang clang-tools
  # test certificates for the HTTPS tests
  openssl
  # openblas.pc's static flags name -lgfortran: tests/install links libomega.a through pkg-config --static
  libgfortran-12-dev
  python3 prometheus
  # the go-live package's tests: a real load balancer, promtool, systemd-analyze, YAML parsing
  haproxy systemd python3-yaml
  # the PyTorch reference of the model families (tools/torch_ref), run with /usr/bin/python3
  python3-torch python3-numpy)
# kustomize renders ops/k8s: kubectl has it built in; Debian's kubernetes-client is one where
# none is installed.
command -v kubectl > /dev/null || pkgs+=(kubernetes-client)
# Node.js runs the official openai client test; keep an existing installation (e.g. NodeSource's,
# which conflicts with Debian's npm package).
command -v node > /dev/null && command -v npm > /dev/null || pkgs+=(nodejs npm)
# OMEGA_DEPS=build: only the compiler and the libraries' -dev packages (the container images' build stage)
[ "${OMEGA_DEPS:-all}" = build ] && pkgs=(build-essential cmake pkg-config ca-certificates
  libutf8proc-dev libonig-dev libjansson-dev libopenblas-dev libmicrohttpd-dev libgnutls28-dev libssl-dev zlib1g-dev)
$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}"
