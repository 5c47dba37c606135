#!/usr/bin/env bash
# check_training.sh <min-accuracy-percent> <max-last-loss> <command> [args...]
# Runs a baton-mnist job and passes when it exits 0 and its output shows
# training that worked, figures a broken run cannot reach:
#  - every rank printed its losses, and each rank's loss fell every epoch;
#  - each rank's last loss is below <max-last-loss> (an untrained network
#    scores ln 10 = 2.30 on ten classes; NaN fails);
#  - the test accuracy is at least <min-accuracy-percent> (chance is 10%);
#  - rank 0 says every rank ended with the same parameters (gradients that
#    were not averaged, or averaged differently on some rank, leave the
#    ranks' models apart).
set -uo pipefail
min_accuracy=$1
max_loss=$2
shift 2
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ $rc -ne 0 ]; then
  echo "check_training: command exited with $rc" >&2
  exit 1
fi
awk -v min_acc="$min_accuracy" -v max_loss="$max_loss" '
  # "[r] Rank r, epoch e: loss" (baton-run prefixes each line with its rank).
  /Rank [0-9]+, epoch [0-9]+: / {
    line = $0; sub(/.*Rank /, "", line)
    split(line, f, /[ ,:]+/)          # f[1] rank, f[2] "epoch", f[3] epoch, f[4] loss
    r = f[1]; e = f[3]; loss = f[4] + 0
    if (f[4] !~ /^[0-9]+(\.[0-9]+)?$/) { print "check_training: rank " r " epoch " e " loss is " f[4] > "/dev/stderr"; bad = 1 }
    if ((r, e - 1) in losses && !(loss < losses[r, e - 1])) {
      print "check_training: rank " r " loss did not fall in epoch " e ": " losses[r, e - 1] " -> " loss > "/dev/stderr"; bad = 1
    }
    losses[r, e] = loss; last[r] = loss; ranks[r] = 1
  }
  /Test accuracy: / { acc = $0; sub(/.*Test accuracy: /, "", acc); sub(/%.*/, "", acc); have_acc = 1 }
  /Parameters identical on every rank: yes/ { agree = 1 }
  END {
    n = 0
    for (r in ranks) {
      n++
      if (!(last[r] < max_loss)) { print "check_training: rank " r " ended at loss " last[r] " (must be below " max_loss ")" > "/dev/stderr"; bad = 1 }
    }
    if (n == 0) { print "check_training: no rank printed a loss" > "/dev/stderr"; bad = 1 }
    if (!have_acc) { print "check_training: no test accuracy printed" > "/dev/stderr"; bad = 1 }
    else if (!(acc + 0 >= min_acc)) { print "check_training: test accuracy " acc "% is below " min_acc "%" > "/dev/stderr"; bad = 1 }
    if (!agree) { print "check_training: the ranks did not end with the same parameters" > "/dev/stderr"; bad = 1 }
    exit bad
  }' <<<"$out"
