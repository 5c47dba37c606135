"""A plain torch.distributed script, for baton-run's torch test.

It is what a torchrun user writes: init_process_group("gloo") on env://
(RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT from the launcher; rank 0 binds
MASTER_PORT for torch's own TCPStore), then an all_reduce of rank + 1, which
every rank prints as "rank R of W sum S" (S = W(W+1)/2, 3.0 for two ranks).

    torch_gloo_job.py            every rank succeeds
    torch_gloo_job.py fail CODE  rank 1 exits with CODE after the init, before
                                 the all_reduce
"""
import os
import sys

import torch
import torch.distributed as dist


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "sum"
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    world_size = dist.get_world_size()
    print(f"rank {rank} joined: LOCAL_RANK={os.environ['LOCAL_RANK']} "
          f"TORCHELASTIC_RUN_ID={os.environ.get('TORCHELASTIC_RUN_ID')}", flush=True)
    if mode == "fail" and rank == 1:
        sys.exit(int(sys.argv[2]))
    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t)
    print(f"rank {rank} of {world_size} sum {t.item()}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
