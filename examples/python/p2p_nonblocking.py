#!/usr/bin/env python3
"""Non-blocking point-to-point, as in the tutorial.

isend and irecv return at once with a request (a Work); until wait()
returns, writing the sent tensor or reading the received one is undefined.
After wait() both ranks hold 1.0.
"""
import torch
import torch.distributed as dist

from run import main


def run(rank, size):
    tensor = torch.zeros(1)
    req = None
    if rank == 0:
        tensor += 1
        # Send the tensor to process 1
        req = dist.isend(tensor=tensor, dst=1)
        print('Rank 0 started sending')
    else:
        # Receive tensor from process 0
        req = dist.irecv(tensor=tensor, src=0)
        print('Rank 1 started receiving')
    req.wait()
    print('Rank ', rank, ' has data ', tensor[0])


if __name__ == "__main__":
    main(run)
