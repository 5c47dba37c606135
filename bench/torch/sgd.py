"""The tutorial's synchronous SGD, timed, for bench/torch/compare.py.

The network, DataPartitioner and the Fashion-MNIST reader are the ones of
examples/python (train_sgd.py, fashion_mnist.py): the benchmark times the
same program the examples run. sgd_rank() runs one rank: every epoch's wall
time, the time inside average_gradients and, of that, inside the first
all_reduce of each step (which absorbs the wait for the slower rank).
"""
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples", "python"))
import fashion_mnist  # noqa: E402
from train_sgd import DataPartitioner, Net, Pairs  # noqa: E402

DATA = None  # (images, labels), loaded by the parent before it forks


def load(directory):
    """Training images normalised as the tutorial does, from `directory`."""
    fashion_mnist.DATA = directory
    return fashion_mnist.load(train=True)


def sgd_rank(rank, n, backend, port, epochs, threads, out_path):
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    import torch.optim as optim
    torch.set_num_threads(threads)
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=n)

    timing = {"ag": 0.0, "first": 0.0}

    def average_gradients(model):
        """The tutorial's: all_reduce SUM every gradient, divide by the world size."""
        size = float(dist.get_world_size())
        first = True
        for param in model.parameters():
            t0 = time.perf_counter()
            dist.all_reduce(param.grad.data, op=dist.ReduceOp.SUM)
            if first:
                timing["first"] += time.perf_counter() - t0
                first = False
            param.grad.data /= size

    torch.manual_seed(1234)
    dataset = Pairs(*DATA)
    bsz = 128 // n
    partition = DataPartitioner(dataset, [1.0 / n for _ in range(n)]).use(dist.get_rank())
    train_set = torch.utils.data.DataLoader(partition, batch_size=bsz, shuffle=True)
    model = Net()
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    num_batches = math.ceil(len(train_set.dataset) / float(bsz))
    per_epoch = []
    dist.barrier()
    for epoch in range(epochs):
        timing["ag"] = timing["first"] = 0.0
        epoch_loss = 0.0
        start = time.perf_counter()
        for data, target in train_set:
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            epoch_loss += loss.item()
            loss.backward()
            t0 = time.perf_counter()
            average_gradients(model)
            timing["ag"] += time.perf_counter() - t0
            optimizer.step()
        wall = time.perf_counter() - start
        per_epoch.append({"epoch": epoch, "loss": epoch_loss / num_batches, "wall_s": wall,
                          "ag_s": timing["ag"], "first_s": timing["first"]})
    digest = sum(float(p.detach().double().sum()) for p in model.parameters())
    dist.barrier()
    with open(out_path, "w") as f:
        json.dump({"rank": rank, "epochs": per_epoch, "param_sum": digest, "steps": num_batches}, f)
    dist.destroy_process_group()


