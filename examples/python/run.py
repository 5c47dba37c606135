#!/usr/bin/env python3
"""run.py: the tutorial's template, on backend "baton".

"Writing Distributed Applications with PyTorch" starts every example from
this template: start `size` processes on this machine, let each one join the
process group through MASTER_ADDR and MASTER_PORT, then call run(rank, size).
The one change from the tutorial is the backend's name: "baton" instead of
"gloo" (installing Baton's Python package registers it; no import needed).
The other scripts of this folder fill in run().
"""
import os
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def run(rank, size):
    """ Distributed function to be implemented later. """
    pass


def init_process(rank, size, fn, backend='baton'):
    """ Initialize the distributed environment. """
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = os.environ.get('MASTER_PORT', '29500')
    dist.init_process_group(backend, rank=rank, world_size=size)
    fn(rank, size)


def main(fn, size=2):
    processes = []
    mp.set_start_method("spawn")
    for rank in range(size):
        p = mp.Process(target=init_process, args=(rank, size, fn))
        p.start()
        processes.append(p)

    for p in processes:
        p.join()
    # Not in the tutorial: a rank that failed fails the whole run.
    if any(p.exitcode != 0 for p in processes):
        raise SystemExit("a rank failed: exit codes %s" % [p.exitcode for p in processes])


if __name__ == "__main__":
    main(run)
    print("run.py: every rank ran")
