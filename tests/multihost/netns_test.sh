#!/usr/bin/env bash
# netns_test.sh BATON_RUN MULTIHOST_CHECK [RANKS_PER_HOST]
#
# Two "hosts" on one machine: network namespaces A and B joined by a veth
# pair (10.77.0.1 in A, 10.77.0.2 in B), each with its own BATON_HOST_ID (the
# namespaces share a kernel, so hostname + boot id would call them one host).
# baton-run starts RANKS_PER_HOST (default 2) ranks of one job in each:
# --nnodes 2, node 0 in A (rank 0 serves the store at 10.77.0.1), node 1 in
# B. multihost_check verifies results and that peers on the same host talk
# over "shm" and the others over "tcp".
#
# Needs root, the `ip` command and permission to create namespaces; where
# any is missing it exits 77 (ctest SKIP_RETURN_CODE) saying why. Namespace
# and interface names carry this shell's PID, so parallel runs do not
# collide; a trap removes them on every exit.
set -uo pipefail

SKIP=77
RUN=${1:?usage: netns_test.sh BATON_RUN MULTIHOST_CHECK [RANKS_PER_HOST]}
CHECK=${2:?usage: netns_test.sh BATON_RUN MULTIHOST_CHECK [RANKS_PER_HOST]}
PER_HOST=${3:-2}

skip() {
  echo "SKIPPED: $* (this test needs root, iproute2's ip and network namespaces)"
  exit $SKIP
}

[ "$(id -u)" = 0 ] || skip "not running as root"
command -v ip >/dev/null || skip "no 'ip' command"

TAG=$$
NS_A=baton-mh-a-$TAG
NS_B=baton-mh-b-$TAG
VETH_A=bmha$TAG   # interface names: at most 15 characters
VETH_B=bmhb$TAG
WORK=$(mktemp -d "${TMPDIR:-/tmp}/baton-multihost.XXXXXX") || exit 1
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  ip netns del "$NS_A" 2>/dev/null
  ip netns del "$NS_B" 2>/dev/null  # deleting a namespace deletes its veth end
  ip link del "$VETH_A" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

err=$(ip netns add "$NS_A" 2>&1) || skip "cannot create a network namespace: $err"
err=$(ip netns add "$NS_B" 2>&1) || skip "cannot create a second network namespace: $err"
err=$(ip netns exec "$NS_A" true 2>&1) || skip "cannot enter a network namespace: $err"
err=$(ip link add "$VETH_A" type veth peer name "$VETH_B" 2>&1) || skip "cannot create a veth pair: $err"

set -e
ip link set "$VETH_A" netns "$NS_A"
ip link set "$VETH_B" netns "$NS_B"
ip -n "$NS_A" addr add 10.77.0.1/24 dev "$VETH_A"
ip -n "$NS_B" addr add 10.77.0.2/24 dev "$VETH_B"
for ns in "$NS_A" "$NS_B"; do
  ip -n "$ns" link set lo up
done
ip -n "$NS_A" link set "$VETH_A" up
ip -n "$NS_B" link set "$VETH_B" up
set +e

JOB=multihost-$TAG
launch() {  # launch <node-rank> <namespace>
  ip netns exec "$2" env BATON_HOST_ID="netns-host-$1-$TAG" BATON_TIMEOUT=30s \
    timeout 100 "$RUN" --nnodes 2 --node-rank "$1" --nproc-per-node "$PER_HOST" \
    --master-addr 10.77.0.1 --master-port 29517 --rdzv-id "$JOB" "$CHECK" \
    >"$WORK/node$1.log" 2>&1
}
launch 0 "$NS_A" &
PIDS+=($!)
launch 1 "$NS_B" &
PIDS+=($!)
wait "${PIDS[0]}"
rc_a=$?
wait "${PIDS[1]}"
rc_b=$?
PIDS=()

for node in 0 1; do
  echo "---- host $node (namespace $([ $node = 0 ] && echo "$NS_A" || echo "$NS_B"))"
  cat "$WORK/node$node.log"
done
ok_lines=$(cat "$WORK"/node*.log | grep -c "multihost_check: rank [0-9]* ok")
want=$((2 * PER_HOST))
if [ "$rc_a" -ne 0 ] || [ "$rc_b" -ne 0 ] || [ "$ok_lines" -ne "$want" ]; then
  echo "FAILED: baton-run exited $rc_a (host 0) and $rc_b (host 1); $ok_lines of $want ranks reported ok"
  exit 1
fi
echo "PASSED: $want ranks on two network-namespace hosts"
