#!/usr/bin/env bash
# Prepare the peers of ../shared/bench/peers in a writable folder (default /tmp/omega-peers):
# Debian's PyTorch, npm onnxruntime-node + HF tokenizers, and the MiniLM-L6 and BERT-base shaped
# random-weight models (with their ONNX exports) that Omega and the peers both run.
#   bench/setup_peers.sh [PEERS_DIR]
set -euo pipefail
SHARED_DIR=$(realpath "${SHARED_DIR:-$(dirname "$0")/../../shared}")
PEERS=${1:-${PEERS_DIR:-/tmp/omega-peers}}
[ -d "$SHARED_DIR/bench/peers" ] || { echo "setup_peers: $SHARED_DIR/bench/peers not found (set SHARED_DIR)" >&2; exit 1; }
if ! /usr/bin/python3 -c 'import torch, numpy, onnx' 2> /dev/null; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get install -y python3-torch python3-numpy python3-onnx nodejs npm
fi
mkdir -p "$PEERS"
cp -rn "$SHARED_DIR/bench/peers/." "$PEERS/"
cd "$PEERS"
[ -d node_modules/tokenizers ] || ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund
export SHARED_DIR
[ -f models/minilm/model.safetensors ] || /usr/bin/python3 gen_model.py --shape minilm --seed 1 --out models/minilm
[ -f models/base/model.safetensors ] || /usr/bin/python3 gen_model.py --shape base --seed 2 --out models/base
echo "$PEERS"
