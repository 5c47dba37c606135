#!/usr/bin/env bash
# bench/torch/compare.sh: torch.distributed, backend="baton" beside "gloo".
#
#   bench/torch/compare.sh [--build-dir DIR] [--out DIR] [--quick] [compare.py options...]
#
# Runs bench/torch/compare.py with Debian's /usr/bin/python3 and the
# baton_torch package of --build-dir (default build/; built by the CMake
# target baton_torch_py into <build>/python). The package is first copied
# into the output directory, so that a rebuild during the run cannot swap
# the extension under it. Every other option goes to compare.py (see
# `/usr/bin/python3 bench/torch/compare.py --help`): --ranks 2,4,
# --sizes 8,1K,64K,1M,16M,64M, --ops, --rounds 5, --iters, --sgd-epochs 1,
# --sgd-rounds 2, --no-collectives, --no-sgd, --threads 1.
#
# --quick: 2 ranks, sizes 8,64K,1M, 1 round, 50 iterations, SGD 1 round
# (a smoke run; its numbers are not for quoting).
#
# Output (--out, default bench/results/torch-<UTC date-time>/, gitignored):
# tables.md (what is printed), raw.json (every round), log.txt, python/.
# Exit status: compare.py's (0 ok, 1 a job or a result check failed, 2 usage).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR="$ROOT/build"
OUT=""
PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --quick) PASS+=(--ranks 2 --sizes 8,64K,1M --rounds 1 --iters 50 --sgd-rounds 1); shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) PASS+=("$1"); shift ;;
  esac
done
PY=/usr/bin/python3
PKG="$BUILD_DIR/python/baton_torch"
if ! ls "$PKG"/_C*.so >/dev/null 2>&1; then
  echo "compare.sh: no $PKG/_C*.so: build it (cmake --build $BUILD_DIR --target baton_torch_py)" >&2
  exit 2
fi
[ -n "$OUT" ] || OUT="$ROOT/bench/results/torch-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT/python" || exit 2
rm -rf "$OUT/python/baton_torch"
cp -a "$PKG" "$OUT/python/" || exit 2
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- src include python 2>/dev/null || echo ' (src/include/python modified)')"
  echo "command: bench/torch/compare.sh ${PASS[*]}"
} | tee "$OUT/log.txt" >&2
"$PY" "$ROOT/bench/torch/compare.py" --pythonpath "$OUT/python" --build-dir "$BUILD_DIR" \
  --out "$OUT/tables.md" --json "$OUT/raw.json" "${PASS[@]}" 2> >(tee -a "$OUT/log.txt" >&2)
rc=$?
echo "compare.sh: wrote $OUT" >&2
exit $rc
