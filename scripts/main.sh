#!/usr/bin/env bash
# Installs what is needed, builds, and runs the main job across local ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
./build/tools/baton_run/baton-run --standalone --nproc-per-node 2 ./build/examples/collectives_tour
