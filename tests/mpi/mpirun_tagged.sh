#!/usr/bin/env bash
# mpirun_tagged.sh <mpirun> [mpirun args...] <program> [args...]
#
# Runs mpirun with --tag-output and rewrites OpenMPI's "[job,rank]<stdout>:"
# line prefixes into baton-run's "[rank] ", so that a tutorial example's
# expected output (examples/expected/*.txt) checks it unchanged. Exits with
# mpirun's status.
#
# With BATON_MPIRUN_PICK_PORT=1 it also exports MASTER_ADDR=127.0.0.1 and a
# MASTER_PORT nothing listens on, for programs on the native backend that
# mpirun starts (rank and size from OMPI_COMM_WORLD_*, the store at
# MASTER_ADDR:MASTER_PORT served by rank 0); pass them on with -x.
set -uo pipefail
if [ "${BATON_MPIRUN_PICK_PORT:-0}" = 1 ]; then
  export MASTER_ADDR=127.0.0.1
  # Below the kernel's ephemeral range, so that no socket mpirun or the ranks
  # open in the meantime can be given the same port.
  read -r ephemeral_low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || ephemeral_low=32768
  span=$((ephemeral_low - 20000))
  [ "$span" -gt 1000 ] || span=10000
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % span))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      export MASTER_PORT=$port
      break
    fi
  done
fi
mpirun=$1
shift
"$mpirun" --tag-output "$@" 2>&1 | sed -u -E 's/^\[[0-9]+,([0-9]+)\]<std(out|err)>: ?/[\1] /'
