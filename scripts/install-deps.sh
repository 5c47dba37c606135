#!/usr/bin/env bash
# Installs the Debian 12 packages Baton builds, tests and runs with.
# Idempotent: does nothing when every package is already installed.
set -euo pipefail

packages=(
  g++ cmake make            # the toolchain (C++20, CMake 3.25)
  libgtest-dev libgmock-dev # tests
  libbenchmark-dev          # baton-bench and micro-benchmarks
  libcli11-dev              # command-line parsing of baton-run, baton-store, baton-bench
  zlib1g-dev                # gzip'd IDX datasets
  libssl-dev                # libcrypto: HMAC-SHA-256 job secrets (docs/security.md)
  clang-14 libfuzzer-14-dev # fuzzing the parsers (scripts/fuzz.sh, docs/security.md)
  libopenmpi-dev openmpi-bin # the mpi backend and its mpirun tests (docs/clusters.md)
  dataset-fashion-mnist     # the MNIST example's default data (/usr/share/datasets/fashion-mnist)
  libtorch-dev              # the LibTorch adapter (DDP) and the MNIST example
  python3-torch pybind11-dev python3-dev # the PyTorch backend (python/baton_torch) and its tests
  libopenblas0-openmp       # an optimised BLAS for LibTorch (Debian otherwise links the reference one)
  procps iproute2           # ps/pgrep and ip, used by launcher and network tests
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi
