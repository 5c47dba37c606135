#!/usr/bin/env bash
# bench/compare.sh: Baton beside OpenMPI and Gloo, same machine, same run.
#
#   bench/compare.sh [--out DIR] [--rounds N] [--sizes LIST] [--ops LIST]
#                    [--ranks LIST] [--iters N] [--quick] [--build-dir DIR]
#                    [--no-build] [--systems LIST]
#
# Builds baton-bench and baton-run (in --build-dir, default build/), builds
# the two comparison programs of bench/compare/ with the system compiler
# against Debian's libopenmpi-dev and libgloo-dev (a system whose package is
# missing is skipped, with a message), then runs every system once per
# round, interleaved, --rounds times: float32 SUM, the ops and sizes given,
# 2 ranks (--ranks 2,4,8: each count in turn; more ranks than cores is
# oversubscribed, every system alike). Systems:
#   baton-shm       baton-bench under baton-run, BATON_TRANSPORT=shm
#   baton-tcp       baton-bench under baton-run, BATON_TRANSPORT=tcp
#   ompi-shm        mpirun, pml ob1, btl self,vader (single copy: CMA)
#   ompi-shm-nocma  the same with btl_vader_single_copy_mechanism none
#   ompi-tcp        mpirun, pml ob1, btl self,tcp over loopback
#   gloo            Gloo's TCP transport on 127.0.0.1, all_reduce algorithm
#                   left to Gloo
# Every program prints baton-bench's CSV columns; bench/compare/report.py
# takes the median of the rounds and writes the tables and plots.
#
# Output (--out, default bench/results/<UTC date-time>/, gitignored):
#   raw/<system>.n<ranks>.round<k>.csv, medians.csv, tables.md, <op>.svg
#   (<op>_<ranks>.svg with several rank counts), log.txt
#
# --quick: sizes 8,64K,1M, 1 round, 50 iterations per point (a smoke run;
# its numbers are not for quoting). Exit status: 0 when every system ran
# and passed its result checks, 1 otherwise (the report is still written
# from what did run), 2 on a bad command line.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=""
ROUNDS=5
SIZES="8,32,128,512,2K,8K,32K,128K,512K,1M,2M,8M,16M,32M,64M"
OPS="all_reduce,broadcast,all_gather,send_recv"
ITERS=""
BUILD_DIR="$ROOT/build"
BUILD=1
SYSTEMS="baton-shm,baton-tcp,ompi-shm,ompi-shm-nocma,ompi-tcp,gloo"
RANKS_LIST=2
RUN_TIMEOUT=900

usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --ops) OPS=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --systems) SYSTEMS=$2; shift 2 ;;
    --ranks) RANKS_LIST=$2; shift 2 ;;
    --quick) SIZES="8,64K,1M"; ROUNDS=1; ITERS=50; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$ROUNDS" in ''|*[!0-9]*|0) echo "compare.sh: --rounds must be a positive integer" >&2; exit 2 ;; esac
OPS=${OPS//ping_pong/send_recv}
case "$RANKS_LIST" in ''|*[!0-9,]*) echo "compare.sh: --ranks must be a comma-separated list of counts" >&2; exit 2 ;; esac
[ -n "$OUT" ] || OUT="$ROOT/bench/results/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT/raw" "$OUT/bin" || exit 2
LOG="$OUT/log.txt"
: >"$LOG"
say() { echo "compare.sh: $*" | tee -a "$LOG" >&2; }

ITER_ARGS=()
[ -n "$ITERS" ] && ITER_ARGS=(--iters "$ITERS")
MPIRUN_ROOT=()
[ "$(id -u)" = 0 ] && MPIRUN_ROOT=(--allow-run-as-root)

# ------------------------------------------------------------------ build
BATON_BENCH="$BUILD_DIR/bench/baton-bench"
BATON_RUN="$BUILD_DIR/tools/baton_run/baton-run"
if [ "$BUILD" = 1 ]; then
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >>"$LOG" 2>&1 ||
      { say "configuring $BUILD_DIR failed (see $LOG)"; exit 1; }
  fi
  say "building baton-bench and baton-run in $BUILD_DIR"
  cmake --build "$BUILD_DIR" --target baton-bench baton-run -j2 >>"$LOG" 2>&1 ||
    { say "building baton-bench failed (see $LOG)"; exit 1; }
fi

CXXFLAGS_COMPARE=(-std=c++17 -O2 -Wall -Wextra -I"$ROOT/bench/compare")
declare -A AVAILABLE=()
if [ -x "$BATON_BENCH" ] && [ -x "$BATON_RUN" ]; then
  AVAILABLE[baton]=1
else
  say "no $BATON_BENCH or $BATON_RUN: Baton systems skipped (build them, or drop --no-build)"
fi
if command -v mpicxx >/dev/null && command -v mpirun >/dev/null; then
  if mpicxx -DOMPI_SKIP_MPICXX "${CXXFLAGS_COMPARE[@]}" -o "$OUT/bin/mpi_bench" \
       "$ROOT/bench/compare/mpi_bench.cc" >>"$LOG" 2>&1; then
    AVAILABLE[openmpi]=1
  else
    say "building mpi_bench failed (see $LOG): OpenMPI systems skipped"
  fi
else
  say "no mpicxx/mpirun (Debian: apt-get install libopenmpi-dev openmpi-bin): OpenMPI systems skipped"
fi
if [ -f /usr/include/gloo/allreduce.h ] &&
   g++ "${CXXFLAGS_COMPARE[@]}" -o "$OUT/bin/gloo_bench" "$ROOT/bench/compare/gloo_bench.cc" \
       -lgloo -pthread >>"$LOG" 2>&1; then
  AVAILABLE[gloo]=1
else
  say "no usable Gloo (Debian: apt-get install libgloo-dev; see $LOG): Gloo skipped"
fi

# ------------------------------------------------------------------ systems
# run_<kind> <system> <csv-file>: runs one system once, writes its rows.
FAILED=()

# baton-bench labels rows "native,tcp"; relabel them with the system measured.
relabel() { awk -F, -v t="$1" 'BEGIN{OFS=","} NF==9 && $1!="op" {$2="baton"; $3=t; print}'; }

run_baton() {
  local transport=${1#baton-}
  BATON_TRANSPORT=$transport timeout "$RUN_TIMEOUT" "$BATON_RUN" --standalone --nproc-per-node "$NRANKS" \
    --no-prefix "$BATON_BENCH" --ops "$OPS" --sizes "$SIZES" "${ITER_ARGS[@]}" --csv \
    2>>"$LOG" | relabel "$transport" >"$2"
}

run_ompi() {
  local mca=(--mca pml ob1) label
  case "$1" in
    ompi-shm) mca+=(--mca btl "self,vader"); label=shm ;;
    ompi-shm-nocma) mca+=(--mca btl "self,vader" --mca btl_vader_single_copy_mechanism none)
                    label=shm-nocma ;;
    ompi-tcp) mca+=(--mca btl "self,tcp" --mca btl_tcp_if_include lo); label=tcp ;;
  esac
  timeout "$RUN_TIMEOUT" mpirun "${MPIRUN_ROOT[@]}" --oversubscribe -np "$NRANKS" "${mca[@]}" \
    "$OUT/bin/mpi_bench" --transport "$label" --ops "$OPS" --sizes "$SIZES" "${ITER_ARGS[@]}" \
    >"$2" 2>>"$LOG"
}

run_gloo() {
  local store rank rc peer peers=()
  store=$(mktemp -d "${TMPDIR:-/tmp}/compare-gloo.XXXXXX") || return 1
  for ((rank = 1; rank < NRANKS; rank++)); do
    RANK=$rank WORLD_SIZE=$NRANKS GLOO_STORE_DIR=$store timeout "$RUN_TIMEOUT" \
      "$OUT/bin/gloo_bench" --ops "$OPS" --sizes "$SIZES" "${ITER_ARGS[@]}" >/dev/null 2>>"$LOG" &
    peers+=($!)
  done
  RANK=0 WORLD_SIZE=$NRANKS GLOO_STORE_DIR=$store timeout "$RUN_TIMEOUT" "$OUT/bin/gloo_bench" \
    --ops "$OPS" --sizes "$SIZES" "${ITER_ARGS[@]}" >"$2" 2>>"$LOG"
  rc=$?
  for peer in "${peers[@]}"; do wait "$peer" || rc=1; done
  rm -rf "$store"
  return $rc
}

run_system() {
  case "$1" in
    baton-shm|baton-tcp) [ -n "${AVAILABLE[baton]:-}" ] && run_baton "$@" ;;
    ompi-shm|ompi-shm-nocma|ompi-tcp) [ -n "${AVAILABLE[openmpi]:-}" ] && run_ompi "$@" ;;
    gloo) [ -n "${AVAILABLE[gloo]:-}" ] && run_gloo "$@" ;;
    *) say "unknown system '$1' (expected baton-shm, baton-tcp, ompi-shm, ompi-shm-nocma, ompi-tcp, gloo)"; return 1 ;;
  esac
}

available() {
  case "$1" in
    baton-*) [ -n "${AVAILABLE[baton]:-}" ] ;;
    ompi-*) [ -n "${AVAILABLE[openmpi]:-}" ] ;;
    gloo) [ -n "${AVAILABLE[gloo]:-}" ] ;;
    *) return 0 ;;
  esac
}

# ------------------------------------------------------------------ rounds
IFS=, read -r -a SYSTEM_LIST <<<"$SYSTEMS"
IFS=, read -r -a RANK_COUNTS <<<"$RANKS_LIST"
say "out $OUT; rounds $ROUNDS; ranks $RANKS_LIST; ops $OPS; sizes $SIZES${ITERS:+; iters $ITERS}"
say "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
for ((round = 1; round <= ROUNDS; round++)); do
  for NRANKS in "${RANK_COUNTS[@]}"; do
    for system in "${SYSTEM_LIST[@]}"; do
      available "$system" || continue
      file="$OUT/raw/$system.n$NRANKS.round$round.csv"
      start=$(date +%s)
      if run_system "$system" "$file"; then
        say "round $round/$ROUNDS, $NRANKS ranks, $system: $(grep -c . "$file") rows in $(( $(date +%s) - start )) s"
      else
        say "round $round/$ROUNDS, $NRANKS ranks, $system FAILED (exit status or a result check; see $LOG)"
        FAILED+=("$system.n$NRANKS.round$round")
      fi
    done
  done
done

python3 "$ROOT/bench/compare/report.py" --out "$OUT" "$OUT"/raw/*.csv 2>&1 | tee -a "$LOG" >&2
cat "$OUT/tables.md"
echo
say "wrote $OUT"
if [ ${#FAILED[@]} -gt 0 ]; then
  say "failed: ${FAILED[*]}"
  exit 1
fi
exit 0
