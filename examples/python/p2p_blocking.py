#!/usr/bin/env python3
"""Blocking point-to-point, as in the tutorial.

Rank 0 adds 1 to a zero tensor and sends it to rank 1; rank 1 receives it
into a tensor of its own. send and recv block until the transfer is done,
so both ranks then print 1.0.
"""
import torch
import torch.distributed as dist

from run import main


def run(rank, size):
    tensor = torch.zeros(1)
    if rank == 0:
        tensor += 1
        # Send the tensor to process 1
        dist.send(tensor=tensor, dst=1)
    else:
        # Receive tensor from process 0
        dist.recv(tensor=tensor, src=0)
    print('Rank ', rank, ' has data ', tensor[0])


if __name__ == "__main__":
    main(run)
