"""The tutorial's way, with no `import baton_torch`: baton_torch.pth (here the
build tree's, through PYTHONUSERBASE) registers "baton" when the script
imports torch.distributed, in this process and in ranks started with the
spawn method (fresh interpreters). 2 ranks from env://.

Also: DistributedDataParallel on "baton" (its Reducer waits on get_future)
ends 3 steps with exactly gloo's parameters, and ranks leave in any order:
rank 1 goes first, rank 0 (which serves the TCPStore) last.
"""

import os
import sys
import time

assert "baton_torch" not in sys.modules, "the hook must not load baton_torch before torch does"
import torch  # noqa: E402  (torch 1.13 imports torch.distributed itself)
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from harness import Checker, free_port  # noqa: E402

SIZE = 2


def train(group, steps, rank):
    torch.manual_seed(1234)
    model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    ddp = torch.nn.parallel.DistributedDataParallel(model, process_group=group)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.5)
    g = torch.Generator().manual_seed(77 + rank)
    for _ in range(steps):
        x = torch.randn(8, 10, generator=g)
        y = torch.randint(0, 3, (8,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(ddp(x), y).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


def rank_main(rank, size, port):
    c = Checker(rank)
    c.true("hook loaded baton_torch in the spawned rank", "baton_torch" in sys.modules)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("baton", rank=rank, world_size=size)
    c.true("backend", dist.get_backend() == "baton", dist.get_backend())
    t = torch.full((3,), float(rank + 1))
    dist.all_reduce(t)
    c.equal("all_reduce", t, torch.full((3,), float(sum(range(1, size + 1)))))

    gloo = dist.new_group(backend="gloo")
    with_baton = train(None, 3, rank)
    with_gloo = train(gloo, 3, rank)
    for i, (a, b) in enumerate(zip(with_baton, with_gloo)):
        c.equal(f"DDP parameter {i} equals gloo's", a, b)
    others = [torch.empty(1) for _ in range(size)]
    dist.all_gather(others, with_baton[0].sum().reshape(1))
    c.equal("DDP parameters agree across ranks", others[1], others[0])
    dist.barrier()
    print(f"rank {rank}: {c.checks} checks", flush=True)
    if rank == 1:
        return  # leaves first
    time.sleep(0.5)
    dist.destroy_process_group()


if __name__ == "__main__":
    assert "baton_torch" in sys.modules, "importing torch.distributed did not load baton_torch (.pth hook)"
    started = time.monotonic()
    mp.spawn(rank_main, args=(SIZE, free_port()), nprocs=SIZE, join=True)
    print(f"python.spawn_hook: ok in {time.monotonic() - started:.1f} s", flush=True)
