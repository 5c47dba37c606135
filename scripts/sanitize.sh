#!/usr/bin/env bash
# Runs Baton's tests under the sanitizers and fails on any report.
#
#   bash scripts/sanitize.sh [--asan] [--tsan] [--quick] [-j N]
#
#   --asan   ASan+UBSan (and LeakSanitizer) build in build-asan; runs the whole
#            ctest suite but for the Python tests (see asan_exclude below).
#   --tsan   ThreadSanitizer build in build-tsan of the transport, backend and
#            store suites' executables (tsan_suites below), and their tests.
#   --quick  For CI (about 5 minutes on 2 cores from a fresh clone, build
#            included): an ASan+UBSan build in build-asan of the library and
#            the executables in quick_suites below, and their tests. No TSan.
#   (none)   --asan, then --tsan.
#   -j N     ctest's parallelism (default: the number of cores).
#
# Build: RelWithDebInfo at -O1 -g1 (cheaper to compile than -O2 -g, with
# line numbers in every report); -DBATON_SANITIZE=address,undefined or
# thread, which also compiles with -fno-sanitize-recover=all
# (cmake/Warnings.cmake).
#
# Idempotent: installs missing packages (scripts/install-deps.sh), then
# configures and builds incrementally. Every process writes its sanitizer
# reports to <build>/sanitizer-logs/ (emptied at each run) rather than to
# stderr, so a report in a rank whose stderr a test swallows is still found;
# any report also makes the process exit non-zero, which fails its test.
# Prints a summary: tests run, failures, reports, elapsed; exits non-zero when
# a test failed or a report was written.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

run_asan=0 run_tsan=0 quick=0
jobs=$(nproc 2>/dev/null || echo 2)
while (($#)); do
  case $1 in
    --asan) run_asan=1 ;;
    --tsan) run_tsan=1 ;;
    --quick) quick=1 ;;
    -j) jobs=$2; shift ;;
    -j*) jobs=${1#-j} ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "sanitize.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if ((quick && (run_asan || run_tsan))); then
  echo "sanitize.sh: --quick runs alone" >&2; exit 2
fi
if ((!quick && !run_asan && !run_tsan)); then run_asan=1 run_tsan=1; fi

bash scripts/install-deps.sh

# Not run under ASan, and why (nothing else is left out):
# - the Python tests (python.*, example.python.*): they load the sanitized
#   extension into an uninstrumented /usr/bin/python3, which ASan refuses
#   unless libasan is LD_PRELOADed; the PyTorch backend is not even built
#   (BATON_WITH_PYTORCH=OFF), so ctest lists only python.skipped.
asan_exclude='^(python\.|example\.python\.)'

# The executables --tsan runs: every transport, backend and store suite.
tsan_suites=(
  transport_unit_test transport_tcp_test transport_shm_test transport_choice_test
  transport_setup_failure_test
  baton_work_test baton_backend_suite_test
  store_conformance_test tcp_store_test tcp_store_bad_input_test file_store_test
  prefix_store_test store_multiprocess_test baton_store_tool_test
)

# The executables --quick builds and runs under ASan+UBSan, about 2 minutes
# of tests on 2 cores: the layers with pointer arithmetic and hostile input
# (core: tensors and reduce kernels; both transports and their units; the
# collectives over loopback; the stores, the tcp store's bad input), the
# spawner, Work, the join protocol and the API's error paths; and of the
# backend conformance suite the tcp and shm instances at 3 ranks
# (quick_backend).
quick_suites=(
  baton_core_test baton_support_test transport_unit_test transport_shm_test transport_tcp_test
  baton_collectives_test store_conformance_test tcp_store_test tcp_store_bad_input_test
  baton_work_test baton_rendezvous_test baton_api_errors_test
)
quick_backend='^Native(Tcp|Shm)/BackendSuite[.].*_ws3 '

label_regex() {  # the ctest -L regex matching exactly these labels
  local IFS='|'
  echo "^($*)\$"
}

# configure <build dir> <sanitizers> [cmake args...]
configure() {
  local dir=$1 sanitize=$2
  shift 2
  mkdir -p "$dir"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
    -DBATON_SANITIZE="$sanitize" "$@" > "$dir/configure.log" 2>&1 ||
    { cat "$dir/configure.log"; exit 1; }
}

report_pattern='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer|ThreadSanitizer: (CHECK|FATAL|unexpected)'
summary=()
failed=0

# run_ctest <logs dir> <log name> [VAR=value ...] -- <ctest args...>: one ctest
# run with the sanitizers' options (ASAN_OPTIONS with $asan_extra appended)
# and the given variables set; adds its counts to tests_run, tests_skipped
# and failures.
run_ctest() {
  local logs=$1 log=$logs/$2.log
  shift 2
  local extra=()
  while [[ $1 != -- ]]; do extra+=("$1"); shift; done
  shift
  local rc=0
  # halt_on_error: the first report ends the process (non-zero exit).
  # detect_leaks: at exit, and in forked ranks before their _exit
  # (tests/support/rank_runner.cc). log_path: a file per process.
  env ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:log_path=$logs/asan:log_exe_name=1${asan_extra:-}" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan:log_exe_name=1" \
    LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0" \
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$logs/tsan:log_exe_name=1" \
    "${extra[@]}" \
    ctest --test-dir "$dir" --output-on-failure --timeout 600 -j "$jobs" "$@" > "$log" 2>&1 || rc=$?
  local line
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1 || true)
  if [[ -z $line ]]; then
    if ! grep -q 'No tests were found' "$log"; then
      failures+=("ctest exited $rc without a summary (see $log)")
    fi
    return
  fi
  tests_run=$((tests_run + $(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")))
  tests_skipped=$((tests_skipped + $(sed -n '/The following tests did not run:/,/^$/p' "$log" | grep -cE '^\s+[0-9]+ - ' || true)))
  local f
  while IFS= read -r f; do failures+=("$f"); done < <(sed -n '/The following tests FAILED:/,$p' "$log" |
    grep -E '^\s+[0-9]+ - ' | sed -E 's/^\s+//')
}

# summarise <name> <logs dir> <start second>: one summary line; lists the
# failed tests and the files holding reports.
summarise() {
  local name=$1 logs=$2 elapsed=$((SECONDS - $3))
  local reports
  reports=$(cat "$logs"/[atu]*san.* 2>/dev/null | grep -cE "$report_pattern" || true)
  summary+=("$(printf '%-5s %5d tests run (%d skipped), %d failed, %d sanitizer reports, %dm%02ds  (logs: %s)' \
    "$name" "$tests_run" "$tests_skipped" "${#failures[@]}" "$reports" $((elapsed / 60)) $((elapsed % 60)) \
    "${logs#"$root"/}")")
  local f
  for f in "${failures[@]}"; do summary+=("      failed: $f"); done
  while IFS= read -r f; do
    [[ -n $f ]] && summary+=("      report: ${f#"$root"/}: $(grep -m1 -E "$report_pattern|SUMMARY" "$f")")
  done < <(grep -lE "$report_pattern" "$logs"/[atu]*san.* 2>/dev/null || true)
  ((${#failures[@]} == 0 && reports == 0)) || failed=1
}

# run_suites <name> <build dir> <with mpi: 0|1> <ctest selection args...>:
# the tests that the selection picks, under the build's sanitizer; with mpi,
# the mpirun tests (mpi.*) in a second ctest run of their own (see below).
run_suites() {
  local name=$1 with_mpi=$3
  dir=$2
  shift 3
  local logs=$root/$dir/sanitizer-logs start=$SECONDS
  rm -rf "$logs"
  mkdir -p "$logs"
  tests_run=0 tests_skipped=0 failures=()
  run_ctest "$logs" ctest -- -E "$asan_exclude|^mpi\." "$@"
  if [[ $name == quick ]]; then
    run_ctest "$logs" ctest-backend -- -L '^baton_backend_suite_test$' -R "$quick_backend"
  fi
  # Open MPI leaks in MPI_Init/MPI_Finalize (scripts/lsan.supp names each
  # leak); its suppressions match only on full stacks (Open MPI is built
  # without frame pointers: fast_unwind_on_malloc=0) through plug-ins that
  # stay loaded (mca_base_component_disable_dlclose).
  if ((with_mpi)); then
    asan_extra=:fast_unwind_on_malloc=0 run_ctest "$logs" ctest-mpi \
      OMPI_MCA_mca_base_component_disable_dlclose=1 -- -R '^mpi\.' "$@"
  fi
  summarise "$name" "$logs" "$start"
}

start_all=$SECONDS

if ((quick)); then
  configure build-asan address,undefined -DBATON_WITH_PYTORCH=OFF
  cmake --build build-asan -j "$jobs" --target "${quick_suites[@]}" baton_backend_suite_test
  run_suites quick build-asan 0 -L "$(label_regex "${quick_suites[@]}")"
fi

if ((run_asan)); then
  configure build-asan address,undefined -DBATON_WITH_PYTORCH=OFF
  cmake --build build-asan -j "$jobs"
  run_suites asan build-asan 1
fi

if ((run_tsan)); then
  configure build-tsan thread -DBATON_WITH_PYTORCH=OFF -DBATON_WITH_TORCH=OFF
  cmake --build build-tsan -j "$jobs" --target "${tsan_suites[@]}"
  run_suites tsan build-tsan 0 -L "$(label_regex "${tsan_suites[@]}")"
fi

echo
echo "sanitize.sh summary:"
printf '  %s\n' "${summary[@]}"
printf '  total %dm%02ds\n' $(((SECONDS - start_all) / 60)) $(((SECONDS - start_all) % 60))
exit $failed
