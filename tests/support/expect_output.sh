#!/usr/bin/env bash
# expect_output.sh <pattern-file> <command> [args...]
# Runs the command; passes when it exits 0 and every line of the pattern file
# (an extended regular expression each) matches some line of its output.
set -uo pipefail
patterns=$1
shift
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ $rc -ne 0 ]; then
  echo "expect_output: command exited with $rc" >&2
  exit 1
fi
missing=0
while IFS= read -r pattern; do
  [ -z "$pattern" ] && continue
  if ! grep -Eq -- "$pattern" <<<"$out"; then
    echo "expect_output: no output line matches: $pattern" >&2
    missing=1
  fi
done <"$patterns"
exit $missing
