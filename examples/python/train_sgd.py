#!/usr/bin/env python3
"""The tutorial's distributed synchronous SGD, on backend "baton".

Every rank trains the same network on its own partition of the data
(DataPartitioner, seeded so that every rank cuts the same way), and after
each backward pass average_gradients() all_reduces every gradient and
divides by the number of ranks, so every rank takes the same step and the
models stay identical. The global batch is 128, each rank's 128 / size.
The data is Fashion-MNIST from Debian's package (fashion_mnist.py), never
downloaded.

Knobs the tutorial does not have, for tests and benchmarks:
EXAMPLE_EPOCHS (default 10), EXAMPLE_LIMIT (use only the first N training
images), EXAMPLE_BACKEND (default "baton"), EXAMPLE_PARAMS=1 (print a
fingerprint of the final parameters on every rank).
"""
import math
import os
from random import Random

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

import fashion_mnist
import run as template


class Partition(object):
    """ Dataset-like object, but only access a subset of it. """

    def __init__(self, data, index):
        self.data = data
        self.index = index

    def __len__(self):
        return len(self.index)

    def __getitem__(self, index):
        data_idx = self.index[index]
        return self.data[data_idx]


class DataPartitioner(object):
    """ Partitions a dataset into different chuncks. """

    def __init__(self, data, sizes=[0.7, 0.2, 0.1], seed=1234):
        self.data = data
        self.partitions = []
        rng = Random()
        rng.seed(seed)
        data_len = len(data)
        indexes = [x for x in range(0, data_len)]
        rng.shuffle(indexes)

        for frac in sizes:
            part_len = int(frac * data_len)
            self.partitions.append(indexes[0:part_len])
            indexes = indexes[part_len:]

    def use(self, partition):
        return Partition(self.data, self.partitions[partition])


class Net(nn.Module):
    """ Network architecture (the PyTorch MNIST example's). """

    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 320)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


class Pairs(object):
    """ (image, label) pairs over the two tensors fashion_mnist.load() gives. """

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


def partition_dataset():
    """ Partitioning the training set. """
    limit = int(os.environ.get('EXAMPLE_LIMIT', '0')) or None
    dataset = Pairs(*fashion_mnist.load(train=True, limit=limit))
    size = dist.get_world_size()
    bsz = 128 // size
    partition_sizes = [1.0 / size for _ in range(size)]
    partition = DataPartitioner(dataset, partition_sizes)
    partition = partition.use(dist.get_rank())
    train_set = torch.utils.data.DataLoader(partition,
                                            batch_size=bsz,
                                            shuffle=True)
    return train_set, bsz


def average_gradients(model):
    """ Gradient averaging. """
    size = float(dist.get_world_size())
    for param in model.parameters():
        dist.all_reduce(param.grad.data, op=dist.ReduceOp.SUM)
        param.grad.data /= size


def run(rank, size):
    """ Distributed Synchronous SGD Example """
    torch.manual_seed(1234)
    torch.set_num_threads(1)  # not in the tutorial: 2 cores, 2 ranks
    train_set, bsz = partition_dataset()
    model = Net()
    optimizer = optim.SGD(model.parameters(),
                          lr=0.01, momentum=0.5)

    num_batches = math.ceil(len(train_set.dataset) / float(bsz))
    for epoch in range(int(os.environ.get('EXAMPLE_EPOCHS', '10'))):
        epoch_loss = 0.0
        for data, target in train_set:
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            epoch_loss += loss.item()
            loss.backward()
            average_gradients(model)
            optimizer.step()
        print('Rank ', dist.get_rank(), ', epoch ',
              epoch, ': ', epoch_loss / num_batches)
    print_parameters(rank, model)


def print_parameters(rank, model):
    """ Not in the tutorial: with EXAMPLE_PARAMS=1, a fingerprint of the
    parameters (a position-weighted sum), equal on every rank when the
    ranks stayed in step. """
    if os.environ.get('EXAMPLE_PARAMS') == '1':
        flat = torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])
        weights = torch.arange(1, flat.numel() + 1, dtype=torch.float64)
        print('Rank ', rank, ' parameters: %.17g' % float((flat * weights).sum()))


def init_process(rank, size, fn):
    template.init_process(rank, size, fn, backend=os.environ.get('EXAMPLE_BACKEND', 'baton'))


if __name__ == "__main__":
    template.init_process = init_process
    template.main(run)
