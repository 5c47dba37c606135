"""Errors on backend "baton" reach Python as RuntimeError carrying Baton's
message, on every rank, promptly, never as a hang.

3 ranks (fork), a baton world from env://. Each failure gets its own group
(a group that failed stays failed, as in torch): a size mismatch, a
mismatch in a subgroup (the message maps its ranks to world ranks), a
collective that one rank never joins (timeout 2 s), Work.wait with a
timeout, a monitored_barrier that one rank misses, the argument errors
(non-contiguous tensor, a dtype Baton lacks, PREMUL_SUM, a bad rank), and
a rank that dies (os._exit) while the others go on.
"""

import datetime
import os
import sys
import time

import torch
import torch.distributed as dist

import baton_torch  # noqa: F401
from harness import Checker, free_port, report, run_ranks

SIZE = 3
SHORT = datetime.timedelta(seconds=2)


def prompt(c, case, started, limit):
    elapsed = time.monotonic() - started
    c.true(case + " promptly", elapsed < limit, f"took {elapsed:.1f} s (limit {limit} s)")


def rank_main(rank, size, port):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("baton", rank=rank, world_size=size)
    c = Checker(rank)
    mismatch = dist.new_group(backend="baton")
    stuck = dist.new_group(backend="baton", timeout=SHORT)
    waited = dist.new_group(backend="baton")
    monitored = dist.new_group(backend="baton", timeout=SHORT)
    pair = dist.new_group([1, 2], backend="baton")

    # Sizes that differ between ranks: every rank hears of it, naming ranks.
    t = torch.ones(5 if rank == 1 else 4)
    started = time.monotonic()
    work = dist.all_reduce(t, group=mismatch, async_op=True)
    msg = c.raises("all_reduce size mismatch", work.wait, "rank")
    prompt(c, "size mismatch", started, 10)
    c.true("failed work is_completed", work.is_completed())
    c.true("failed work not is_success", not work.is_success())
    # (Work.exception() is not reachable from Python in torch 1.13: no
    # converter for std::exception_ptr, for gloo's Works too.)
    fut = work.get_future()
    c.raises("failed work's future", fut.wait, "rank")
    print(f"rank {rank}: size mismatch -> {msg.splitlines()[0]}", flush=True)

    # In a subgroup the message says which world ranks its group ranks are.
    if rank in (1, 2):
        msg = c.raises("subgroup size mismatch",
                       lambda: dist.all_reduce(torch.ones(rank), group=pair),
                       "group ranks 0, 1 are world ranks 1, 2")
        print(f"rank {rank}: subgroup mismatch -> {msg.splitlines()[0]}", flush=True)

    # Rank 2 never joins the all_reduce of ranks 0 and 1; it waits for a
    # message nobody sends. Everyone gets an error after about 2 s.
    started = time.monotonic()
    if rank < 2:
        msg = c.raises("all_reduce timeout", lambda: dist.all_reduce(torch.ones(3), group=stuck))
    else:
        msg = c.raises("recv timeout", lambda: dist.recv(torch.ones(3), 0, group=stuck, tag=7))
    prompt(c, "timeout", started, 15)
    print(f"rank {rank}: timeout -> {msg.splitlines()[0]}", flush=True)

    # Work.wait(timeout) gives up on a pending receive without failing it.
    dist.barrier()
    if rank == 0:
        got = torch.zeros(3)
        work = dist.irecv(got, 1, group=waited)
        msg = c.raises("wait timeout", lambda: work.wait(datetime.timedelta(milliseconds=200)),
                       "did not complete")
        c.true("wait timeout leaves it pending", not work.is_completed())
        dist.barrier()  # now rank 1 sends
        work.wait()
        c.true("then it completes", work.is_completed())
        c.equal("then it receives", got, torch.full((3,), 7.0))
    else:
        dist.barrier()
        if rank == 1:
            dist.send(torch.full((3,), 7.0), 0, group=waited)

    # monitored_barrier that rank 2 misses: rank 0 names it; rank 1 hears that
    # rank 0 did not release it.
    dist.barrier()
    started = time.monotonic()
    if rank < 2:
        msg = c.raises("monitored_barrier", lambda: dist.monitored_barrier(monitored, timeout=SHORT))
        if rank == 0:
            c.true("monitored_barrier names rank 2", "2" in msg, msg)
        prompt(c, "monitored_barrier", started, 15)
        print(f"rank {rank}: monitored_barrier -> {msg.splitlines()[0]}", flush=True)
    dist.barrier()

    # Argument errors, on the calling rank, before anything is sent.
    c.raises("non-contiguous", lambda: dist.all_reduce(torch.ones(4, 3).t()), "contiguous")
    c.raises("int16", lambda: dist.all_reduce(torch.ones(3, dtype=torch.int16)), "int16")  # Short
    premul = dist._make_nccl_premul_sum(2.0)
    c.raises("PREMUL_SUM", lambda: dist.all_reduce(torch.ones(3), op=premul), "PREMUL_SUM")
    c.raises("rank out of range", lambda: dist.broadcast(torch.ones(3), 7))

    # The world still works after all of that.
    t = torch.full((4,), float(rank))
    dist.all_reduce(t)
    c.equal("world after errors", t, torch.full((4,), float(sum(range(size)))))
    # A rank that dies: the others hear of it at once, naming it.
    doomed = dist.new_group(backend="baton")
    dist.barrier()
    if rank == 2:
        print(f"rank {rank}: {c.checks} checks, now exits without a word", flush=True)
        os._exit(0)
    time.sleep(0.2)
    started = time.monotonic()
    c.raises("peer died", lambda: dist.all_reduce(torch.ones(3), group=doomed), "rank 2")
    prompt(c, "peer died", started, 5)
    print(f"rank {rank}: {c.checks} checks", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    report("python.errors", run_ranks(rank_main, SIZE, free_port(), start_method="fork"))
    sys.exit(0)
