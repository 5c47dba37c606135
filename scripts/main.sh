#!/usr/bin/env bash
# Installs what is needed, builds, and runs the main job: the tutorial's
# distributed training (examples/mnist) on Fashion-MNIST, 2 local ranks,
# 10 epochs (about 90 s on 2 cores). Extra arguments go to baton-mnist
# (e.g. --ddp, --epochs 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
./build/tools/baton_run/baton-run --standalone --nproc-per-node 2 ./build/examples/mnist/baton-mnist "$@"
