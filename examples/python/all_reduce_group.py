#!/usr/bin/env python3
"""all_reduce over a group, as in the tutorial.

new_group([0, 1]) makes a group of ranks 0 and 1; all_reduce with SUM over
it leaves the sum of every member's ones(1), 2.0, on both.
"""
import torch
import torch.distributed as dist

from run import main


def run(rank, size):
    """ Simple collective communication. """
    group = dist.new_group([0, 1])
    tensor = torch.ones(1)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=group)
    print('Rank ', rank, ' has data ', tensor[0])


if __name__ == "__main__":
    main(run)
