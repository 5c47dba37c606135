#!/usr/bin/env python3
"""The tutorial's collectives, each with a value only the right result has.

The tutorial lists broadcast, reduce, all_reduce (with SUM, PRODUCT, MAX and
MIN), scatter, gather, all_gather and barrier; this script runs each on 4
ranks from inputs that depend on the rank, and prints what every rank holds.
"""
import sys

import torch
import torch.distributed as dist

from run import main


def say(rank, text):
    # One write per line, so that the ranks' lines never interleave.
    sys.stdout.write('Rank %d: %s\n' % (rank, text))
    sys.stdout.flush()


def run(rank, size):
    t = torch.tensor([1., 2., 3.]) if rank == 1 else torch.zeros(3)
    dist.broadcast(t, src=1)
    say(rank, 'broadcast from 1 -> %s' % t)

    t = torch.tensor([float(rank + 1)] * 2)
    dist.reduce(t, dst=0, op=dist.ReduceOp.SUM)
    if rank == 0:
        say(rank, 'reduce(SUM) to 0 -> %s' % t)

    for name, op in [('SUM', dist.ReduceOp.SUM), ('PRODUCT', dist.ReduceOp.PRODUCT),
                     ('MIN', dist.ReduceOp.MIN), ('MAX', dist.ReduceOp.MAX)]:
        t = torch.tensor([rank + 1., rank + 2., rank + 3.])
        dist.all_reduce(t, op=op)
        say(rank, 'all_reduce(%s) -> %s' % (name, t))

    out = torch.zeros(2)
    pieces = [torch.tensor([10. * r, 10. * r + 1]) for r in range(size)] if rank == 0 else None
    dist.scatter(out, scatter_list=pieces, src=0)
    say(rank, 'scatter from 0 -> %s' % out)

    mine = torch.tensor([float(rank * rank)])
    gathered = [torch.zeros(1) for _ in range(size)] if rank == size - 1 else None
    dist.gather(mine, gather_list=gathered, dst=size - 1)
    if rank == size - 1:
        say(rank, 'gather to %d -> %s' % (size - 1, torch.cat(gathered)))

    everyone = [torch.zeros(2) for _ in range(size)]
    dist.all_gather(everyone, torch.tensor([rank + 1., 100.]))
    say(rank, 'all_gather -> %s' % torch.cat(everyone))

    dist.barrier()
    say(rank, 'passed the barrier')


if __name__ == "__main__":
    main(run, size=4)
