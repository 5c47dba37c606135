"""Subgroups on backend "baton", 4 ranks (fork): overlapping groups,
operations in flight on several groups at once, a gloo subgroup in a baton
world and baton subgroups in a gloo world, destroy_process_group then init
again (file://, then tcp://), and ranks that leave in any order: rank 0,
which serves the last round's TCPStore, exits first.
"""

import sys
import time

import torch
import torch.distributed as dist

import baton_torch  # noqa: F401
from harness import Checker, file_init_method, free_port, report, run_ranks

SIZE = 4
GROUPS = [[0, 1], [1, 2, 3], [0, 2], [3, 1], [0, 1, 2, 3], [2, 3]]


def check_group(c, rank, ranks, group, label):
    members = sorted(ranks)  # torch numbers a group's ranks in sorted order
    if rank not in members:
        c.true(f"{label} non-member", group == dist.GroupMember.NON_GROUP_MEMBER)
        return
    t = torch.full((6,), float(rank + 1))
    dist.all_reduce(t, group=group)
    c.equal(f"{label} all_reduce", t, torch.full((6,), float(sum(r + 1 for r in members))))
    t = torch.full((3,), float(10 * rank), dtype=torch.float64)
    dist.broadcast(t, members[-1], group=group)  # src is a global rank, as in torch
    c.equal(f"{label} broadcast", t, torch.full((3,), float(10 * members[-1]), dtype=torch.float64))
    outs = [torch.empty(2, dtype=torch.int64) for _ in members]
    dist.all_gather(outs, torch.tensor([rank, rank * rank]), group=group)
    c.equal(f"{label} all_gather", torch.stack(outs), torch.tensor([[r, r * r] for r in members]))
    t = torch.tensor([rank + 1])
    dist.reduce(t, members[0], op=dist.ReduceOp.PRODUCT, group=group)
    if rank == members[0]:
        prod = 1
        for r in members:
            prod *= r + 1
        c.equal(f"{label} reduce", t, torch.tensor([prod]))
    if len(members) > 1:  # a ring of sends in group order, with global peers
        i = members.index(rank)
        got = torch.empty(1, dtype=torch.int64)
        reqs = [dist.isend(torch.tensor([rank]), members[(i + 1) % len(members)], group=group),
                dist.irecv(got, members[i - 1], group=group)]
        for req in reqs:
            req.wait()
        c.equal(f"{label} ring", got, torch.tensor([members[i - 1]]))


def overlapping_in_flight(c, rank, groups):
    """Async all_reduces on every group this rank is in, waited together."""
    pending = []
    for k, (ranks, group) in enumerate(groups):
        if rank in ranks:
            t = torch.full((1000,), float(rank + k))
            pending.append((k, ranks, t, dist.all_reduce(t, group=group, async_op=True)))
    for k, ranks, t, work in pending:
        work.wait()
        c.equal(f"in flight on group {ranks}", t, torch.full((1000,), float(sum(r + k for r in ranks))))


def round_baton_world(c, rank, size):
    dist.init_process_group("baton", init_method=file_init_method_shared[0], rank=rank, world_size=size)
    pg = dist.distributed_c10d._get_default_group()
    transports = pg.transports
    c.true("transports", transports[rank] == "self" and
           all(t in ("shm", "tcp") for i, t in enumerate(transports) if i != rank), str(transports))
    groups = [(ranks, dist.new_group(ranks, backend="baton")) for ranks in GROUPS]
    gloo_sub = dist.new_group([0, 3], backend="gloo")
    for ranks, group in groups:
        check_group(c, rank, ranks, group, f"baton world, group {ranks}")
    overlapping_in_flight(c, rank, groups)
    check_group(c, rank, [0, 3], gloo_sub, "baton world, gloo group [0, 3]")
    check_group(c, rank, list(range(size)), None, "baton world")
    dist.destroy_process_group()


def round_gloo_world(c, rank, size, port):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size)
    groups = [(ranks, dist.new_group(ranks, backend="baton")) for ranks in GROUPS[:3]]
    for ranks, group in groups:
        check_group(c, rank, ranks, group, f"gloo world, baton group {ranks}")
    overlapping_in_flight(c, rank, groups)
    dist.destroy_process_group()


def round_again(c, rank, size, port):
    dist.init_process_group("baton", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size)
    check_group(c, rank, list(range(size)), None, "baton world again")
    sub = dist.new_group([1, 2, 3], backend="baton")
    # torch's new_group ends with a barrier over the store that a rank may
    # leave before the others have read it: meet once more, without the
    # store, before rank 0 may go.
    dist.barrier()
    if rank == 0:
        return  # leaves first, taking the TCPStore with it
    time.sleep(0.5)  # rank 0 has gone; its TCPStore too
    check_group(c, rank, [1, 2, 3], sub, "group [1, 2, 3] after rank 0 left")
    dist.destroy_process_group()


file_init_method_shared = []


def rank_main(rank, size, ports):
    c = Checker(rank)
    round_baton_world(c, rank, size)
    round_gloo_world(c, rank, size, ports[0])
    round_again(c, rank, size, ports[1])
    print(f"rank {rank}: {c.checks} checks", flush=True)


if __name__ == "__main__":
    file_init_method_shared.append(file_init_method())  # inherited by the forked ranks
    report("python.subgroups", run_ranks(rank_main, SIZE, (free_port(), free_port()), start_method="fork"))
    sys.exit(0)
