// Baton's training layer: datasets in IDX format, data partitioning and
// sampling across ranks, and gradient averaging (by hand, and bucketed as
// DistributedDataParallel does). Library target baton::train; it needs zlib,
// the core library does not. See docs/training.md.
//
// Thread safety: see each header.
#pragma once

#include "baton/train/average_gradients.hpp"
#include "baton/train/data_partitioner.hpp"
#include "baton/train/distributed_sampler.hpp"
#include "baton/train/gradient_bucketer.hpp"
#include "baton/train/idx.hpp"
#include "baton/train/mnist.hpp"
