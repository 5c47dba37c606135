// The LibTorch adapter in one include: zero-copy tensor views,
// average_gradients(module) and DistributedDataParallel.
//
// Built only when LibTorch is found (target baton::torch).
//
// Thread safety: see each header.
#pragma once

#include "baton/train/torch/average_gradients.hpp"
#include "baton/train/torch/distributed_data_parallel.hpp"
#include "baton/train/torch/tensor_view.hpp"
