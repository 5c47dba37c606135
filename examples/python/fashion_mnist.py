"""Fashion-MNIST from Debian's dataset-fashion-mnist, read from its IDX files.

The tutorial downloads MNIST through torchvision; these examples never
download: they read the gzip'd IDX files (MNIST's format) that Debian's
package installs, /usr/share/datasets/fashion-mnist by default
(EXAMPLE_DATA overrides it). Images become float tensors of 1x28x28,
normalised with the tutorial's MNIST mean and deviation.
"""
import gzip
import os
import struct

import torch

DATA = os.environ.get('EXAMPLE_DATA', '/usr/share/datasets/fashion-mnist')


def _read_idx(path):
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    zero, dtype, dims = struct.unpack('>HBB', raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError('%s: not an IDX file of unsigned bytes' % path)
    shape = struct.unpack('>' + 'I' * dims, raw[4:4 + 4 * dims])
    data = torch.frombuffer(bytearray(raw[4 + 4 * dims:]), dtype=torch.uint8)
    return data.reshape(shape)


def load(train=True, limit=None):
    """(images, labels): images N x 1 x 28 x 28 float32, labels N int64."""
    prefix = 'train' if train else 't10k'
    images = _read_idx(os.path.join(DATA, prefix + '-images-idx3-ubyte.gz'))
    labels = _read_idx(os.path.join(DATA, prefix + '-labels-idx1-ubyte.gz'))
    if limit:
        images, labels = images[:limit], labels[:limit]
    images = (images.float().div(255.).sub(0.1307).div(0.3081)).unsqueeze(1)
    return images, labels.long()
