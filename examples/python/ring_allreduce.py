#!/usr/bin/env python3
"""The tutorial's own ring-allreduce, and its chunked form.

allreduce() is the tutorial's: each rank sends to its right neighbour and
receives from its left one, size - 1 times, adding what it receives, so
every rank sends (size - 1) times the tensor. chunked_allreduce() is the
tutorial's exercise: cut the tensor into size chunks, reduce-scatter them
around the ring (after size - 1 steps each rank holds one chunk's full sum),
then all-gather the sums (size - 1 more steps): each rank sends only
2 (size - 1) / size of the tensor. Both must equal dist.all_reduce.
"""
import sys

import torch
import torch.distributed as dist

from run import main


def allreduce(send, recv):
    rank = dist.get_rank()
    size = dist.get_world_size()
    send_buff = send.clone()
    recv_buff = send.clone()
    accum = send.clone()

    left = ((rank - 1) + size) % size
    right = (rank + 1) % size

    for i in range(size - 1):
        if i % 2 == 0:
            # Send send_buff
            send_req = dist.isend(send_buff, right)
            dist.recv(recv_buff, left)
            accum[:] += recv_buff[:]
        else:
            # Send recv_buff
            send_req = dist.isend(recv_buff, right)
            dist.recv(send_buff, left)
            accum[:] += send_buff[:]
        send_req.wait()
    recv[:] = accum[:]


def chunked_allreduce(send, recv):
    rank = dist.get_rank()
    size = dist.get_world_size()
    left = ((rank - 1) + size) % size
    right = (rank + 1) % size
    recv[:] = send[:]
    chunks = list(recv.chunk(size))
    incoming = [c.clone() for c in chunks]
    # Reduce-scatter: at step i, pass on chunk (rank - i) and add chunk (rank - i - 1).
    for i in range(size - 1):
        out_c, in_c = (rank - i) % size, (rank - i - 1) % size
        req = dist.isend(chunks[out_c].clone(), right)
        dist.recv(incoming[in_c], left)
        chunks[in_c] += incoming[in_c]
        req.wait()
    # All-gather: pass the finished chunk (rank + 1 - i) on; receive (rank - i).
    for i in range(size - 1):
        out_c, in_c = (rank + 1 - i) % size, (rank - i) % size
        req = dist.isend(chunks[out_c].clone(), right)
        dist.recv(chunks[in_c], left)
        req.wait()


def run(rank, size):
    torch.manual_seed(rank)
    data = torch.randint(-100, 100, (4099,)).float()  # integers: every order sums alike
    expected = data.clone()
    dist.all_reduce(expected)
    naive = torch.zeros_like(data)
    allreduce(data, naive)
    chunked = torch.zeros_like(data)
    chunked_allreduce(data, chunked)
    # One write per line, so that the ranks' lines never interleave.
    sys.stdout.write('Rank %d: naive ring matches all_reduce: %s\n'
                     'Rank %d: chunked ring matches all_reduce: %s\n'
                     % (rank, torch.equal(naive, expected), rank, torch.equal(chunked, expected)))
    sys.stdout.flush()


if __name__ == "__main__":
    main(run, size=4)
