#!/usr/bin/env bash
# netns_test.sh BATON_RUN MULTIHOST_CHECK [RANKS_PER_HOST] [MODE]
#
# Two "hosts" on one machine: network namespaces A and B joined by a veth
# pair (10.77.0.1 in A, 10.77.0.2 in B), each with its own BATON_HOST_ID (the
# namespaces share a kernel, so hostname + boot id would call them one host).
# RANKS_PER_HOST (default 2) ranks of one job run in each, rank 0 in A.
# multihost_check verifies results and that peers on the same host talk
# over "shm" and the others over "tcp".
#
# Each host also has a decoy interface (bmhx*: 10.78.1.1 in A, 10.78.2.1 in
# B, on another veth pair, different subnets: neither host can reach the
# other's), made before the real one so that getifaddrs lists it first: a
# rank that publishes "the first interface" instead of a reachable one
# fails. MODE:
#   env     baton-run --nnodes 2 --master-addr 10.77.0.1 (env://); the
#           ranks publish the route to MASTER_ADDR
#   tcp     ranks started without a launcher and without MASTER_ADDR,
#           init_method tcp://10.77.0.1:PORT; they publish the route to it
#   file    the same with file:// on a file both namespaces see, and no
#           decoy: the ranks publish the first non-loopback interface
#   ifname  file:// with the decoy, and BATON_SOCKET_IFNAME choosing the
#           real interface: =<name> (exact) in A, ^lo,bmhx (exclusions) in B
# For tcp, file and ifname every rank must also log that it publishes its
# host's 10.77.0.x address.
#
# Needs root, the `ip` command and permission to create namespaces; where
# any is missing it exits 77 (ctest SKIP_RETURN_CODE) saying why. Namespace
# and interface names carry this shell's PID, so parallel runs do not
# collide; a trap removes them on every exit.
set -uo pipefail

SKIP=77
USAGE="usage: netns_test.sh BATON_RUN MULTIHOST_CHECK [RANKS_PER_HOST] [env|tcp|file|ifname]"
RUN=${1:?$USAGE}
CHECK=${2:?$USAGE}
PER_HOST=${3:-2}
MODE=${4:-env}
case "$MODE" in env | tcp | file | ifname) ;; *) echo "$USAGE" >&2; exit 2 ;; esac

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
DECOY_A=bmhxa$TAG
DECOY_B=bmhxb$TAG
WORK=$(mktemp -d "${TMPDIR:-/tmp}/baton-multihost.XXXXXX") || exit 1
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  ip netns del "$NS_A" 2>/dev/null
  ip netns del "$NS_B" 2>/dev/null  # deleting a namespace deletes its veth ends
  ip link del "$VETH_A" 2>/dev/null
  ip link del "$DECOY_A" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

err=$(ip netns add "$NS_A" 2>&1) || skip "cannot create a network namespace: $err"
err=$(ip netns add "$NS_B" 2>&1) || skip "cannot create a second network namespace: $err"
err=$(ip netns exec "$NS_A" true 2>&1) || skip "cannot enter a network namespace: $err"
# The decoy pair first: interfaces are listed in the order of their index.
err=$(ip link add "$DECOY_A" type veth peer name "$DECOY_B" 2>&1) || skip "cannot create a veth pair: $err"
err=$(ip link add "$VETH_A" type veth peer name "$VETH_B" 2>&1) || skip "cannot create a veth pair: $err"

set -e
for ns in "$NS_A" "$NS_B"; do
  ip -n "$ns" link set lo up
done
if [ "$MODE" = file ]; then
  ip link del "$DECOY_A"
else
  ip link set "$DECOY_A" netns "$NS_A"
  ip link set "$DECOY_B" netns "$NS_B"
  ip -n "$NS_A" addr add 10.78.1.1/24 dev "$DECOY_A"
  ip -n "$NS_B" addr add 10.78.2.1/24 dev "$DECOY_B"
  ip -n "$NS_A" link set "$DECOY_A" up
  ip -n "$NS_B" link set "$DECOY_B" up
fi
ip link set "$VETH_A" netns "$NS_A"
ip link set "$VETH_B" netns "$NS_B"
ip -n "$NS_A" addr add 10.77.0.1/24 dev "$VETH_A"
ip -n "$NS_B" addr add 10.77.0.2/24 dev "$VETH_B"
ip -n "$NS_A" link set "$VETH_A" up
ip -n "$NS_B" link set "$VETH_B" up
set +e

echo "mode $MODE; IPv4 addresses in listing order:"
for ns in "$NS_A" "$NS_B"; do
  order=$(ip -n "$ns" -o -4 addr show | awk '{printf "%s %s  ", $2, $4}')
  echo "  $ns: $order"
  if [ "$MODE" != file ] && [[ "$order" != *bmhx*bmh[ab]* ]]; then
    echo "  note: the decoy is not listed before the real interface here, so this run" \
      "does not show that a rank ignoring the route or BATON_SOCKET_IFNAME would fail"
  fi
done

JOB=multihost-$TAG
PORT=29517
WORLD=$((2 * PER_HOST))
ns_of() { [ "$1" = 0 ] && echo "$NS_A" || echo "$NS_B"; }

# baton-run on each host (env://).
launch_run() {  # launch_run <node-rank>
  ip netns exec "$(ns_of "$1")" env BATON_HOST_ID="netns-host-$1-$TAG" BATON_TIMEOUT=30s \
    timeout 100 "$RUN" --nnodes 2 --node-rank "$1" --nproc-per-node "$PER_HOST" \
    --master-addr 10.77.0.1 --master-port "$PORT" --rdzv-id "$JOB" "$CHECK" \
    >"$WORK/node$1.log" 2>&1
}

# The ranks of one host started directly (as srun or a batch script would),
# with no MASTER_ADDR: the init method says where the store is.
launch_direct() {  # launch_direct <node-rank> <init method> [BATON_SOCKET_IFNAME]
  local node=$1 method=$2 ifname=${3-} pids=() rc=0 local_rank rank
  for ((local_rank = 0; local_rank < PER_HOST; local_rank++)); do
    rank=$((node * PER_HOST + local_rank))
    ip netns exec "$(ns_of "$node")" env -u MASTER_ADDR -u MASTER_PORT -u BATON_AGENT_STORE \
      ${ifname:+BATON_SOCKET_IFNAME="$ifname"} \
      RANK="$rank" WORLD_SIZE="$WORLD" LOCAL_RANK="$local_rank" LOCAL_WORLD_SIZE="$PER_HOST" \
      BATON_HOST_ID="netns-host-$node-$TAG" BATON_JOB_ID="$JOB" BATON_TIMEOUT=30s \
      BATON_LOG=debug:rendezvous MULTIHOST_INIT_METHOD="$method" \
      timeout 100 "$CHECK" 2>&1 | sed "s/^/[rank $rank] /" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  return $rc
}

case "$MODE" in
  env)
    launch_run 0 &
    PIDS+=($!)
    launch_run 1 &
    PIDS+=($!)
    ;;
  tcp)
    launch_direct 0 "tcp://10.77.0.1:$PORT" >"$WORK/node0.log" &
    PIDS+=($!)
    launch_direct 1 "tcp://10.77.0.1:$PORT" >"$WORK/node1.log" &
    PIDS+=($!)
    ;;
  file | ifname)
    STORE="file://$WORK/store"
    IFNAME_A= IFNAME_B=
    if [ "$MODE" = ifname ]; then IFNAME_A="=$VETH_A" IFNAME_B="^lo,bmhx"; fi
    launch_direct 0 "$STORE" "$IFNAME_A" >"$WORK/node0.log" &
    PIDS+=($!)
    launch_direct 1 "$STORE" "$IFNAME_B" >"$WORK/node1.log" &
    PIDS+=($!)
    ;;
esac
wait "${PIDS[0]}"
rc_a=$?
wait "${PIDS[1]}"
rc_b=$?
PIDS=()

for node in 0 1; do
  echo "---- host $node (namespace $(ns_of $node))"
  cat "$WORK/node$node.log"
done
ok_lines=$(cat "$WORK"/node*.log | grep -c "multihost_check: rank [0-9]* ok")
failed=0
if [ "$rc_a" -ne 0 ] || [ "$rc_b" -ne 0 ] || [ "$ok_lines" -ne "$WORLD" ]; then
  echo "FAILED: host 0 exited $rc_a, host 1 exited $rc_b; $ok_lines of $WORLD ranks reported ok"
  failed=1
fi
if [ "$MODE" != env ]; then
  # Every rank published its host's address on the link between the hosts.
  for node in 0 1; do
    want="10.77.0.$((node + 1))"
    n=$(grep -c "this rank publishes $want\$" "$WORK/node$node.log")
    if [ "$n" -ne "$PER_HOST" ]; then
      echo "FAILED: $n of $PER_HOST ranks on host $node logged 'this rank publishes $want'"
      failed=1
    fi
  done
fi
[ "$failed" = 0 ] || exit 1
echo "PASSED: $WORLD ranks on two network-namespace hosts ($MODE)"
