#!/usr/bin/env bash
# as_hosts.sh <ranks per host> <command> [args...]
# Runs the command as if the job's hosts held <ranks per host> ranks each:
# sets BATON_HOST_ID from RANK (set by baton-run), so one machine runs a job
# that spans "hosts" (shared memory inside each, tcp between them).
set -euo pipefail
per=$1
shift
export BATON_HOST_ID="as-hosts-$((RANK / per))"
exec "$@"
