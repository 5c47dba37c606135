#!/usr/bin/env python3
"""The same training with torch's DistributedDataParallel, on backend "baton".

The tutorial ends its SGD chapter noting that the real thing buckets the
gradients and overlaps their all_reduce with the backward pass: that is
torch.nn.parallel.DistributedDataParallel, which here runs over Baton
(it broadcasts the parameters at construction, then all_reduces gradient
buckets asynchronously and waits for their futures). No
average_gradients(): DDP averages. Same knobs as train_sgd.py.
"""
import math
import os

import torch
import torch.distributed as dist
import torch.nn.functional as F
import torch.optim as optim
from torch.nn.parallel import DistributedDataParallel as DDP

import run as template
from train_sgd import Net, init_process, partition_dataset, print_parameters


def run(rank, size):
    torch.manual_seed(1234)
    torch.set_num_threads(1)
    train_set, bsz = partition_dataset()
    model = DDP(Net())
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    num_batches = math.ceil(len(train_set.dataset) / float(bsz))
    for epoch in range(int(os.environ.get('EXAMPLE_EPOCHS', '10'))):
        epoch_loss = 0.0
        for data, target in train_set:
            optimizer.zero_grad()
            loss = F.nll_loss(model(data), target)
            epoch_loss += loss.item()
            loss.backward()
            optimizer.step()
        print('Rank ', dist.get_rank(), ', epoch ', epoch, ': ', epoch_loss / num_batches)
    print_parameters(rank, model)


if __name__ == "__main__":
    template.init_process = init_process
    template.main(run)
