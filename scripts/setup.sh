#!/usr/bin/env bash
# Installs what dagbuild and the default pipeline need on a Debian/Ubuntu machine:
#   system: libxgboost0 + xgboost (baseline GBM), openssh-server (remote-host tests),
#           redis-server (gate-stream tests), ninja-build (bench/noop peer),
#           clang + lld (the WebAssembly build of the training kernels; a committed
#           native/nn.wasm serves when they are absent), python3-numpy + python3-onnx (the
#           Python interop tests: safetensors read-back, onnx.checker), chromium (the report's
#           headless check)
#   --bench: also python3-torch + libopenblas0-pthread, the PyTorch peer of bench/train
#            (a benchmark peer, never a dependency of dagbuild)
#   npm:    `npm ci` (builds dist/ through the `prepare` script)
# Safe to rerun. Without root or sudo it prints the apt-get line to run instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(libxgboost0 xgboost openssh-server redis-server ninja-build clang lld python3-numpy python3-onnx chromium)
if [ "${1:-}" = "--bench" ]; then PKGS+=(python3-torch libopenblas0-pthread); fi
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else SUDO="none"; fi
  if [ "$SUDO" = none ] || ! command -v apt-get >/dev/null; then
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: install them with: apt-get install -y ${missing[*]}" >&2
  else
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y "${missing[@]}" >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y "${missing[@]}"; }
  fi
fi
# onnxruntime-node ships its CPU binary; its install script only fetches the optional CUDA
# provider from the internet, which we skip.
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund
