#!/usr/bin/env bash
# Installs the built tree into a scratch prefix, then configures, builds and
# runs a tiny outside project against it.
set -euo pipefail
build_dir=$1 consumer_src=$2 work=$3
rm -rf "$work"
cmake --install "$build_dir" --prefix "$work/prefix" > "$work.install.log" 2>&1 || { cat "$work.install.log"; exit 1; }
cmake -S "$consumer_src" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release
cmake --build "$work/build"
"$work/build/consumer"
