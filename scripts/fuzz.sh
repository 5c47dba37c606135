#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang-14, ASan and UBSan in
# ./build-fuzz and runs each one from a copy of its seed corpus
# (docs/security.md). Prints, per target: inputs run, exec/s, crashes (0
# expected), the corpus size at the end and the time taken. Exits non-zero
# when any target crashed, leaked, timed out (> 1 s on one input) or went over
# 512 MB; the failing inputs are left in build-fuzz/run/<target>/artifacts/.
#
#   bash scripts/fuzz.sh                   every target, 1,000,000 inputs each
#   bash scripts/fuzz.sh --runs 50000      fewer inputs
#   bash scripts/fuzz.sh --short           about 5 seconds per target
#   bash scripts/fuzz.sh --only idx        one target (repeat for more)
#   bash scripts/fuzz.sh --keep-going      on a crash, go on (libFuzzer -fork=1
#                                          -ignore_crashes=1) and count them
#   bash scripts/fuzz.sh --seeds           rewrite tests/fuzz/corpus/ from
#                                          Baton's encoders, then stop
#
# Idempotent: installs clang-14 and libFuzzer only when missing (Debian 12,
# as root), rebuilds incrementally, and starts every run from a fresh copy of
# the corpus, so tests/fuzz/corpus/ is never written to (except by --seeds).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=$root/build-fuzz

runs=1000000
seconds=""
keep_going=0
seeds=0
only=()
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --short) seconds=5; shift ;;
    --only) only+=("$2"); shift 2 ;;
    --keep-going) keep_going=1; shift ;;
    --seeds) seeds=1; shift ;;
    -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# clang-14 and its fuzzer runtime (libclang-rt-14-dev, which libfuzzer-14-dev
# pulls in), CMake, and the libraries the harnesses link (zlib; libcrypto for
# the job secret's proofs).
packages=(clang-14 libfuzzer-14-dev cmake make zlib1g-dev libssl-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
fuzzer_works() {
  local dir rc=0
  dir=$(mktemp -d)
  printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' >"$dir/t.cc"
  clang++-14 -fsanitize=fuzzer,address,undefined "$dir/t.cc" -o "$dir/t" >/dev/null 2>&1 || rc=1
  rm -rf "$dir"
  return $rc
}
# libfuzzer-14-dev is not needed where clang-14's runtime already links fuzzers.
if ((${#missing[@]} == 1)) && [[ ${missing[0]} == libfuzzer-14-dev ]] && fuzzer_works; then missing=(); fi
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "fuzz.sh: missing ${missing[*]}: apt-get install -y ${missing[*]} (as root)" >&2
    exit 1
  fi
  echo "fuzz.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi
if ! fuzzer_works; then
  echo "fuzz.sh: clang++-14 -fsanitize=fuzzer,address,undefined does not link a fuzzer" >&2
  exit 1
fi

cmake -S tests/fuzz -B "$build" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
mapfile -t all <"$build/targets.txt"
if ((${#only[@]} == 0)); then only=("${all[@]}"); fi
for t in "${only[@]}"; do
  if [[ ! " ${all[*]} " == *" $t "* ]]; then
    echo "fuzz.sh: unknown target '$t' (targets: ${all[*]})" >&2
    exit 2
  fi
done

jobs=$(nproc)
if ((seeds)); then
  cmake --build "$build" -j "$jobs" --target fuzz_seed_corpus
  "$build/fuzz_seed_corpus" "$root/tests/fuzz/corpus"
  echo "fuzz.sh: seed corpora written to tests/fuzz/corpus/"
  exit 0
fi
cmake --build "$build" -j "$jobs" --target "${only[@]/#/fuzz_}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

rows=()
failed=0
for t in "${only[@]}"; do
  dir=$build/run/$t
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp "$root/tests/fuzz/corpus/$t/"* "$dir/corpus/"
  args=(-rss_limit_mb=512 -timeout=1 -max_len=4096 -print_final_stats=1
        -artifact_prefix="$dir/artifacts/")
  if [[ -n $seconds ]]; then
    args+=(-max_total_time="$seconds")
    what="${seconds}s"
  else
    args+=(-runs="$runs")
    what="-runs=$runs"
  fi
  if ((keep_going)); then args+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1); fi
  echo "fuzz.sh: $t: fuzz_$t ${args[*]} corpus/ (log: $dir/log.txt)"
  start=$(date +%s.%N)
  set +e
  (cd "$dir" && "$build/fuzz_$t" "${args[@]}" corpus) >"$dir/log.txt" 2>&1
  rc=$?
  set -e
  elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  executed=$({ grep -o 'stat::number_of_executed_units: [0-9]*' "$dir/log.txt" || true; } | awk '{s += $2} END {print s + 0}')
  if ((keep_going)) || [[ $executed == 0 ]]; then
    # Fork mode prints progress lines "#N ... exec/s: E ..."; take the last.
    last=$({ grep -o '^#[0-9]*' "$dir/log.txt" || true; } | tail -1 | tr -d '#')
    [[ -n $last && $last -gt $executed ]] && executed=$last
  fi
  crashes=$(find "$dir/artifacts" -type f | wc -l)
  if ((rc != 0 && crashes == 0)); then crashes=1; fi
  # Inputs per wall-clock second, start-up included (libFuzzer's own
  # average_exec_per_sec divides by whole seconds).
  rate=$(awk -v n="$executed" -v s="$elapsed" 'BEGIN {printf "%d", (s > 0 ? n / s : 0)}')
  files=$(find "$dir/corpus" -type f | wc -l)
  bytes=$(du -sb "$dir/corpus" | cut -f1)
  rows+=("$(printf '%-16s %12s %8s %8s %8s %10s %9s' "$t" "$executed" "$rate" "$crashes" "$files" "$bytes" "$elapsed")")
  if ((crashes > 0)); then
    failed=1
    echo "fuzz.sh: $t: $crashes failing input(s) in $dir/artifacts/; first report:"
    grep -m1 -A12 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|FUZZ FAILURE' "$dir/log.txt" || tail -20 "$dir/log.txt"
    echo "fuzz.sh: $t: distinct reports:"
    { grep -hoE 'SUMMARY: .*|FUZZ FAILURE at .*|[^ ]+:[0-9]+:[0-9]+: runtime error' "$dir/log.txt" || true; } |
      sort | uniq -c | sort -rn | head -10
  fi
done

echo
echo "fuzz.sh: clang-14 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all; -rss_limit_mb=512 -timeout=1; $what"
printf '%-16s %12s %8s %8s %8s %10s %9s\n' target inputs exec/s crashes corpus bytes seconds
printf '%s\n' "${rows[@]}"
exit $failed
