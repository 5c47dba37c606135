#!/usr/bin/env bash
# fault_trials.sh: fault injection on Baton jobs (see docs/reliability.md).
#
# Each trial starts `baton-run --standalone` on the harness rank program
# (tests/fault/fault_rank.cc) with BATON_TIMEOUT set, sends SIGKILL or SIGSTOP
# to one random rank at a random moment (run: after every READY + 0-300 ms;
# startup: 0-100 ms after launch), and records what every survivor reported,
# whether the job hung, the time from the fault to the first survivor error,
# leftover /dev/shm segments, orphan processes, baton-run's exit code and whom
# it blamed, and any WRONG DATA. The trials cycle through every combination of
# fault x transport x ranks x phase; the rank and the moment are random.
#
# Usage: bash scripts/fault_trials.sh [options]
#   --trials N              number of trials (default 20)
#   --ranks 2,3,4           world sizes to cycle through
#   --transports shm,tcp,mixed   mixed: each pair of ranks gets its own BATON_HOST_ID
#   --faults kill,stop      SIGKILL, SIGSTOP
#   --phases run,startup
#   --timeout 5s            BATON_TIMEOUT (s or ms); a trial that runs past
#                           timeout + 10 s after the fault is killed and counted a hang
#   --out DIR               where trials.csv, survivors.csv, summary.md and each
#                           trial's output go (default fault-trials-<date>)
#   --build-dir DIR         the build tree holding baton-run and fault_rank (default build)
#   --harness PATH, --baton-run PATH   override the two programs
#   --startup-window MS     start-up faults land 0..MS after the victim starts (default
#                           40: a 4-rank job here is READY about 25-40 ms after launch,
#                           so a wider window mostly hits the run; phase_hit says
#                           which phase each fault hit)
#   --ops LIST              the harness's --ops (default mixed)
#   --grace S               baton-run --grace-period (default: baton-run's own)
#   --seed N                seed of the random choices (default: random)
#   --check                 exit 1 on any hang, wrong data, orphan or leaked segment
#   --quiet                 no line per trial
#   --summary-only          run no trial: summarise the trials.csv already in --out
#                           (for a long run that was stopped part way)
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
startup_window=40 trials=20 ranks=2,3,4 transports=shm,tcp,mixed faults=kill,stop phases=run,startup
timeout=5s out="" build_dir=build harness="" baton_run="" ops=mixed grace="" seed=""
check=0 quiet=0 summary_only=0

die() { echo "fault_trials.sh: $*" >&2; exit 2; }
while (($#)); do
  case $1 in
    --trials) trials=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --transports) transports=$2; shift 2 ;;
    --faults) faults=$2; shift 2 ;;
    --phases) phases=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --harness) harness=$2; shift 2 ;;
    --baton-run) baton_run=$2; shift 2 ;;
    --ops) ops=$2; shift 2 ;;
    --startup-window) startup_window=$2; shift 2 ;;
    --grace) grace=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --check) check=1; shift ;;
    --quiet) quiet=1; shift ;;
    --summary-only) summary_only=1; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

[[ -n $harness ]] || harness=$build_dir/tests/fault/fault_rank
[[ -n $baton_run ]] || baton_run=$build_dir/tools/baton_run/baton-run
(( summary_only )) || [[ -x $harness ]] || die "no harness at $harness (build the fault_rank target, or pass --build-dir)"
(( summary_only )) || [[ -x $baton_run ]] || die "no baton-run at $baton_run"
harness=$(cd "$(dirname "$harness")" && pwd)/$(basename "$harness")
[[ -n $out ]] || out=fault-trials-$(date +%Y%m%d-%H%M%S)
if (( summary_only )); then
  [[ -s $out/trials.csv ]] || die "no $out/trials.csv to summarise"
else
  rm -rf "$out/trials"
  mkdir -p "$out/trials" || die "cannot create $out"
fi
[[ -n $seed ]] || seed=$(( $(date +%s%N) % 1000000007 ))
RANDOM=$seed

case $timeout in
  *ms) timeout_ms=${timeout%ms} ;;
  *s) timeout_ms=$(( ${timeout%s} * 1000 )) ;;
  *) timeout_ms=$(( timeout * 1000 )); timeout=${timeout}s ;;
esac
hang_limit_ms=$(( timeout_ms + 10000 ))

IFS=, read -r -a R <<<"$ranks"
IFS=, read -r -a T <<<"$transports"
IFS=, read -r -a F <<<"$faults"
IFS=, read -r -a P <<<"$phases"
for t in "${T[@]}"; do [[ $t == shm || $t == tcp || $t == mixed ]] || die "unknown transport '$t'"; done
for f in "${F[@]}"; do [[ $f == kill || $f == stop ]] || die "unknown fault '$f'"; done
for p in "${P[@]}"; do [[ $p == run || $p == startup ]] || die "unknown phase '$p'"; done

now_ms() { local us=${EPOCHREALTIME/[.,]/}; echo $(( us / 1000 )); }
sleep_ms() { sleep "$(printf '%d.%03d' $(( $1 / 1000 )) $(( $1 % 1000 )))"; }
# state letter of a process (R, S, T, Z, ...), empty when it is gone
proc_state() { local a b c; { read -r a b c _ <"/proc/$1/stat"; } 2>/dev/null && echo "$c"; }
# every live process whose environment carries this job's id
job_pids() { grep -las -- "BATON_JOB_ID=$1" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | grep -vx "$$" || true; }
csv() { local s=${1//\"/\'}; printf '"%s"' "$s"; }

trial_csv=$out/trials.csv
surv_csv=$out/survivors.csv
if (( ! summary_only )); then
echo "trial,ranks,transport,fault,phase,phase_hit,victim,delay_ms,kill_at_ms,hang,baton_rc,launcher_culprit,launcher_names_culprit,survivors,survivor_faults,survivors_naming,survivors_terminated,survivors_done,first_error_ms,last_error_ms,types,wrong_data,leaked_segments,orphans,duration_ms" >"$trial_csv"
echo "trial,transport,fault,phase_hit,rank,outcome,type,elapsed_ms,fault_to_error_ms,names_culprit,op,bytes,what" >"$surv_csv"
echo "# fault_trials.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) seed=$seed trials=$trials ranks=$ranks transports=$transports faults=$faults phases=$phases timeout=$timeout ops=$ops grace=${grace:-default}" >"$out/params.txt"
fi

run_trial() {
  local i=$1 c=$(( $1 % (${#F[@]} * ${#T[@]} * ${#R[@]} * ${#P[@]}) ))
  local fault=${F[c % ${#F[@]}]}; c=$(( c / ${#F[@]} ))
  local transport=${T[c % ${#T[@]}]}; c=$(( c / ${#T[@]} ))
  local n=${R[c % ${#R[@]}]}; c=$(( c / ${#R[@]} ))
  local phase=${P[c % ${#P[@]}]}
  local victim=$(( RANDOM % n )) sig=KILL
  [[ $fault == stop ]] && sig=STOP
  local job dir=$out/trials/$i
  job=$(printf 'ft%06x%05x%04x' $(( $$ % 0xffffff )) "$i" $RANDOM)
  mkdir -p "$dir"
  local -a prog=("$harness")
  local bt=$transport
  if [[ $transport == mixed ]]; then bt=auto; prog=(bash "$root/tests/support/as_hosts.sh" 2 "$harness"); fi
  local -a brargs=(--standalone --nproc-per-node "$n" --rdzv-id "$job")
  [[ -n $grace ]] && brargs+=(--grace-period "$grace")

  local t0 tk=0 vpid="" delay=0 hang=0 rc
  local inject=""
  [[ $phase == startup ]] && inject=$victim:$([[ $sig == KILL ]] && echo 9 || echo 19):$(( RANDOM % (startup_window + 1) ))
  : >"$dir/stdout"; : >"$dir/stderr"
  t0=$(now_ms)
  FAULT_INJECT=$inject BATON_TIMEOUT=$timeout BATON_TRANSPORT=$bt FAULT_OPS=$ops FAULT_DURATION_MS=${FAULT_DURATION_MS:-1500} \
    "$baton_run" "${brargs[@]}" -- "${prog[@]}" >"$dir/stdout" 2>"$dir/stderr" &
  local br=$!

  if [[ $phase == run ]]; then
    # every rank READY (or baton-run gone, or start-up hung)
    while [[ $(grep -c 'READY rank=' "$dir/stdout") -lt $n ]]; do
      [[ $(proc_state $br) == Z || -z $(proc_state $br) ]] && break
      (( $(now_ms) - t0 > hang_limit_ms )) && break
      sleep 0.01
    done
    delay=$(( RANDOM % 301 ))
    sleep_ms $delay
    vpid=$(sed -n "s/.*READY rank=$victim pid=\([0-9]*\).*/\1/p" "$dir/stdout" | head -1)
  else
    # start-up: the victim's own helper process signals it (see fault_rank --inject):
    # a pid found from here would come too late for a job that starts in ~25 ms
    delay=${inject##*:}
  fi
  if [[ $phase == run ]]; then
    if [[ -n $vpid && -n $(proc_state "$vpid") ]]; then
      kill -$sig "$vpid" 2>/dev/null
      tk=$(now_ms)
    else
      vpid=""
    fi
  else
    local line
    while :; do
      line=$(grep -m1 "INJECT rank=$victim " "$dir/stdout")
      [[ -n $line ]] && break
      local st; st=$(proc_state $br)
      [[ -z $st || $st == Z ]] && break
      (( $(now_ms) - t0 > hang_limit_ms )) && break
      sleep 0.01
    done
    line=$(grep -m1 "INJECT rank=$victim " "$dir/stdout")
    if [[ -n $line ]]; then
      vpid=$(sed -n 's/.* pid=\([0-9]*\).*/\1/p' <<<"$line")
      tk=$(sed -n 's/.* t_ms=\([0-9]*\).*/\1/p' <<<"$line")
    fi
  fi
  local start=$(( tk > 0 ? tk : t0 ))
  while :; do
    local st; st=$(proc_state $br)
    [[ -z $st || $st == Z ]] && break
    if (( $(now_ms) - start > hang_limit_ms )); then
      hang=1
      local p
      for p in $(pgrep -P $br) $vpid; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
      kill -KILL $br 2>/dev/null
      break
    fi
    sleep 0.02
  done
  wait $br; rc=$?
  local tend; tend=$(now_ms)

  # orphans: anything of this job still alive after baton-run (a stopped victim included)
  local orphans=0 p
  for p in $(job_pids "$job"); do
    orphans=$(( orphans + 1 ))
    echo "orphan pid=$p state=$(proc_state "$p") cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" >>"$dir/leftovers"
    kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null
  done
  local leaked=0 s
  for s in /dev/shm/baton-"$job"*; do
    [[ -e $s ]] || continue
    leaked=$(( leaked + 1 )); echo "segment $s" >>"$dir/leftovers"; rm -f "$s"
  done

  # the victim's READY, if any, says whether the fault hit start-up or the run
  local phase_hit=startup
  grep -q "READY rank=$victim " "$dir/stdout" && phase_hit=run
  [[ -z $vpid ]] && phase_hit=none

  local blamed; blamed=$(sed -n 's/^baton-run: rank \([0-9]*\) .*/\1/p' "$dir/stderr" | head -1)
  local names_l=0; [[ -n $blamed && $blamed == "$victim" ]] && names_l=1
  local wrong; wrong=$(grep -c 'WRONG DATA' "$dir/stdout")

  local nsurv=0 nfault=0 nname=0 nterm=0 ndone=0 first="" last="" types="" r
  for (( r = 0; r < n; r++ )); do
    (( r == victim )) && continue
    nsurv=$(( nsurv + 1 ))
    local line outcome=none type="" el="" t="" f2e="" named=0 op="" bytes="" what=""
    line=$(grep -m1 "FAULT rank=$r " "$dir/stdout")
    if [[ -n $line ]]; then
      outcome=fault; nfault=$(( nfault + 1 ))
      type=$(sed -n 's/.* type=\([^ ]*\).*/\1/p' <<<"$line")
      el=$(sed -n 's/.* elapsed_ms=\([^ ]*\).*/\1/p' <<<"$line")
      t=$(sed -n 's/.* t_ms=\([0-9]*\).*/\1/p' <<<"$line")
      op=$(sed -n 's/.* op=\([^ ]*\).*/\1/p' <<<"$line")
      bytes=$(sed -n 's/.* bytes=\([^ ]*\).*/\1/p' <<<"$line")
      what=${line#* what=}
      # "rank 2", or a list such as "ranks still missing: 1, 2"
      if grep -Eq "rank $victim([^0-9]|$)|ranks[^.;()]*[ :,]$victim([^0-9]|$)" <<<"$what"; then named=1; nname=$(( nname + 1 )); fi
      if (( tk > 0 )) && [[ -n $t ]]; then
        f2e=$(( t - tk ))
        [[ -z $first ]] || (( f2e < first )) && first=$f2e
        [[ -z $last ]] || (( f2e > last )) && last=$f2e
      fi
      [[ ";$types;" == *";$type;"* ]] || types=${types:+$types;}$type
    elif grep -q "TERMINATED rank=$r " "$dir/stdout"; then
      outcome=terminated; nterm=$(( nterm + 1 ))
      op=$(grep -m1 "TERMINATED rank=$r " "$dir/stdout" | sed -n 's/.* op=\([^ ]*\).*/\1/p')
    elif grep -q "DONE rank=$r " "$dir/stdout"; then
      outcome=done; ndone=$(( ndone + 1 ))
    fi
    echo "$i,$transport,$fault,$phase_hit,$r,$outcome,$type,$el,$f2e,$named,$op,$bytes,$(csv "$what")" >>"$surv_csv"
  done
  echo "$i,$n,$transport,$fault,$phase,$phase_hit,$victim,$delay,$(( tk > 0 ? tk - t0 : -1 )),$hang,$rc,${blamed:-},$names_l,$nsurv,$nfault,$nname,$nterm,$ndone,$first,$last,$types,$wrong,$leaked,$orphans,$(( tend - t0 ))" >>"$trial_csv"
  if (( ! quiet )); then
    printf 'trial %d: %s %s n=%d victim=%d phase=%s/%s hang=%d rc=%d blamed=%s faults=%d/%d named=%d first=%sms types=%s wrong=%d leaked=%d orphans=%d\n' \
      "$i" "$fault" "$transport" "$n" "$victim" "$phase" "$phase_hit" "$hang" "$rc" "${blamed:--}" \
      "$nfault" "$nsurv" "$nname" "${first:--}" "${types:--}" "$wrong" "$leaked" "$orphans"
  fi
}

(( summary_only )) || for (( trial = 0; trial < trials; trial++ )); do run_trial "$trial"; done

# ---- summary ---------------------------------------------------------------
# stats LABEL < values ("NA": no survivor error): "| LABEL | trials | no error | median | p95 | max |"
stats() {
  sort -n | awk -v label="$1" '$1 == "NA" { na++; next } { v[++n] = $1 } END {
    if (n == 0) { printf "| %s | %d | %d | - | - | - |\n", label, na, na; exit }
    m = v[int((n + 1) / 2)]; p = int(n * 0.95 + 0.999); if (p < 1) p = 1; if (p > n) p = n
    printf "| %s | %d | %d | %d | %d | %d |\n", label, n + na, na, m, v[p], v[n] }'
}
# colna NAME COND: like col, with "NA" for an empty value
colna() {
  awk -F, -v name="$1" 'NR == 1 { for (k = 1; k <= NF; k++) c[$k] = k; next }
    { if ('"$2"') print ($c[name] == "" ? "NA" : $c[name]) }' "$trial_csv"
}
# the column of trials.csv named $1, for rows where awk condition $2 holds
col() {
  awk -F, -v name="$1" 'NR == 1 { for (k = 1; k <= NF; k++) c[$k] = k; next }
    { if ('"$2"' && $c[name] != "") print $c[name] }' "$trial_csv"
}
sum() { col "$1" "${2:-1}" | awk '{ s += $1 } END { print s + 0 }'; }
count() { col trial "$1" | wc -l; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.1f%%", 100 * a / b }'; }

ntr=$(count 1)
hangs=$(sum hang)
wrong_trials=$(count '$c["wrong_data"] > 0')
surv=$(sum survivors '$c["phase_hit"] != "none"')
sfault=$(sum survivor_faults '$c["phase_hit"] != "none"')
snamed=$(sum survivors_naming '$c["phase_hit"] != "none"')
sterm=$(sum survivors_terminated)
leaks=$(sum leaked_segments)
orph=$(sum orphans)
nofault=$(count '$c["phase_hit"] == "none"')
kills=$(count '$c["fault"] == "kill" && $c["phase_hit"] != "none"')
kills_named=$(sum launcher_names_culprit '$c["fault"] == "kill" && $c["phase_hit"] != "none"')
stops=$(count '$c["fault"] == "stop" && $c["phase_hit"] != "none"')
stops_named=$(sum launcher_names_culprit '$c["fault"] == "stop" && $c["phase_hit"] != "none"')
{
  echo "## Fault trials"
  echo
  sed 's/^# //' "$out/params.txt"
  echo
  echo "| measure | value |"
  echo "|---|---|"
  echo "| trials | $ntr (no fault injected: $nofault) |"
  echo "| hangs (no end within timeout + 10 s of the fault) | $hangs |"
  echo "| silent wrong data (trials with WRONG DATA) | $wrong_trials |"
  echo "| survivors with a typed error | $sfault of $surv ($(pct "$sfault" "$surv")); stopped by baton-run first: $sterm |"
  echo "| survivors naming the culprit | $snamed of $surv ($(pct "$snamed" "$surv")) |"
  echo "| leaked /dev/shm segments | $leaks |"
  echo "| orphan processes | $orph |"
  echo "| launcher names the culprit, kill | $kills_named of $kills ($(pct "$kills_named" "$kills")) |"
  echo "| launcher names the culprit, stop | $stops_named of $stops ($(pct "$stops_named" "$stops")) |"
  echo
  echo "Error types of survivors: $(awk -F, 'NR > 1 && $7 != "" { n[$7]++ } END { for (t in n) printf "%s %d, ", t, n[t] }' "$surv_csv" | sed 's/, $//')"
  echo
  echo "Time from the fault to the first survivor error (ms; \"no error\": no survivor caught"
  echo "one before baton-run stopped it, 250 ms after the first exit):"
  echo
  echo "| cause | trials | no error | median | p95 | max |"
  echo "|---|---|---|---|---|---|"
  for t in "${T[@]}"; do
    colna first_error_ms '$c["fault"] == "kill" && $c["phase_hit"] == "run" && $c["transport"] == "'"$t"'"' | stats "kill on $t"
  done
  for t in "${T[@]}"; do
    colna first_error_ms '$c["fault"] == "stop" && $c["phase_hit"] == "run" && $c["transport"] == "'"$t"'"' | stats "stop on $t"
  done
  colna first_error_ms '$c["fault"] == "kill" && $c["phase_hit"] == "startup"' | stats "kill in start-up"
  colna first_error_ms '$c["fault"] == "stop" && $c["phase_hit"] == "startup"' | stats "stop in start-up"
  echo
  echo "Time from the fault to the last survivor error (ms):"
  echo
  echo "| cause | trials | no error | median | p95 | max |"
  echo "|---|---|---|---|---|---|"
  colna last_error_ms '$c["fault"] == "kill" && $c["phase_hit"] == "run"' | stats "kill, run"
  colna last_error_ms '$c["fault"] == "stop" && $c["phase_hit"] == "run"' | stats "stop, run"
  colna last_error_ms '$c["phase_hit"] == "startup"' | stats "start-up"
} >"$out/summary.md"
cat "$out/summary.md"

# ---- what is not yet right (printed, never failing) -------------------------
awk -F, 'NR > 1 && $6 == "fault" && $10 == 0 { w = $0; for (k = 0; k < 12; k++) sub(/^[^,]*,/, "", w)
    printf "note: trial %s rank %s (%s %s, %s) did not name the culprit: %s\n", $1, $5, $3, $2, $4, w }' "$surv_csv" | head -20
awk -F, -v lim=$(( timeout_ms + 1000 )) 'NR == 1 { for (k = 1; k <= NF; k++) c[$k] = k; next }
  $c["last_error_ms"] != "" {
    f = $c["fault"]; ph = $c["phase_hit"]; last = $c["last_error_ms"] + 0
    slow = (f == "kill" && ph == "run" && last > 100) || (f == "stop" && last > lim) || (ph == "startup" && f == "kill" && last > 1000)
    if (slow) printf "note: trial %s (%s %s, %s) slow: last survivor error %d ms after the fault\n", $1, f, $c["transport"], ph, last }' "$trial_csv" | head -20

if (( check )); then
  bad=$(( hangs + wrong_trials + orph + leaks ))
  if (( bad > 0 )); then
    echo "FAILED: hangs=$hangs wrong_data=$wrong_trials orphans=$orph leaked_segments=$leaks (see $out)" >&2
    exit 1
  fi
fi
exit 0
