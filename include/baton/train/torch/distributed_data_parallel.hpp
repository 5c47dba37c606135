// DistributedDataParallel: data-parallel training of a torch::nn::Module,
// with gradients reduced in buckets while the backward pass still runs.
//
// What it does, as torch's DDP:
//  - At construction it checks that every rank's module has the same
//    parameters (names, shapes, dtypes), then broadcasts the parameters and
//    buffers from group rank 0 so every replica starts from the same state.
//  - It gives every trainable parameter a gradient tensor (zeros) and hangs a
//    hook on each parameter's gradient accumulator. When autograd has written
//    a parameter's gradient, the hook hands it to a GradientBucketer
//    (baton/train/gradient_bucketer.hpp): gradients are packed into flat
//    buckets in reverse parameter order (the order backward produces them),
//    and each bucket's all_reduce starts asynchronously as soon as it is
//    full, overlapping communication with the rest of the backward pass.
//  - At the end of backward() (an autograd final callback) it waits for the
//    buckets and writes the averaged gradients back, so when loss.backward()
//    returns every rank holds the same, averaged gradients and the optimizer
//    step is the same everywhere.
//  - no_sync() returns a guard; backward passes while it lives accumulate
//    gradients locally without communication (gradient accumulation), and
//    the first backward after it reduces the accumulated gradients.
//
// Usage:
//   auto net = std::make_shared<Net>();
//   baton::train::DistributedDataParallel ddp(net);
//   torch::optim::SGD opt(net->parameters(), 0.01);
//   opt.zero_grad(); auto loss = nll_loss(net->forward(x), y); loss.backward(); opt.step();
//
// Gradients must keep their memory between iterations or be re-created by
// autograd (both work: a changed gradient tensor is re-bound). The optimizer's
// zero_grad() zeroes them in place.
//
// Built only when LibTorch is found (target baton::torch).
//
// Thread safety: one DistributedDataParallel per module; backward passes of
// one instance must not overlap. Hooks run on autograd's thread.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "baton/group.hpp"
#include "baton/train/gradient_bucketer.hpp"

namespace baton::train {

struct DdpOptions {
  // The group that trains together (evaluated when the options are made:
  // world() needs init_process_group first).
  Group group = world();
  // Largest gradient bucket in bytes (torch's bucket_cap_mb, 25 MiB).
  size_t bucket_bytes = default_bucket_bytes();
  // Cap of the first bucket (the last layers' gradients, ready first), so
  // communication starts early in the backward pass; torch's 1 MiB. 0: bucket_bytes.
  size_t first_bucket_bytes = 1u << 20;
  // Broadcast the module's buffers (batch-norm statistics) from rank 0 at construction.
  bool broadcast_buffers = true;
};

// Time spent by one rank, summed over the iterations that synchronised.
struct DdpStats {
  int64_t iterations = 0;
  // Time the end of backward() waited for communication that the backward
  // pass did not hide.
  std::chrono::nanoseconds exposed_wait{0};
};

class DistributedDataParallel {
 public:
  // Blocks while the parameters are checked and broadcast (bounded by the
  // group's timeout). Errors: InvalidArgument for a null module, a module
  // without trainable parameters, or a non-contiguous parameter;
  // MismatchError naming the first parameter whose name, shape or dtype
  // differs and the ranks that differ; the collectives' errors.
  explicit DistributedDataParallel(std::shared_ptr<torch::nn::Module> module,
                                   DdpOptions options = {});
  // Removes the hooks; waits for communication still in flight.
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  torch::nn::Module& module() const { return *module_; }
  const GradientBucketer& bucketer() const { return *bucketer_; }
  const DdpStats& stats() const { return stats_; }

  // While a guard lives, backward passes skip communication.
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(DistributedDataParallel& ddp);
    ~NoSyncGuard();
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    DistributedDataParallel& ddp_;
    bool previous_;
  };
  [[nodiscard]] NoSyncGuard no_sync() { return NoSyncGuard(*this); }

 private:
  class Hook;
  void check_same_parameters() const;
  void broadcast_state() const;
  void on_gradient_ready(size_t slot);
  void finish_iteration();

  std::shared_ptr<torch::nn::Module> module_;
  DdpOptions options_;
  std::vector<std::string> names_;          // per slot (reverse parameter order)
  std::vector<torch::Tensor> parameters_;   // per slot
  std::vector<void*> bound_;                // the gradient memory each slot is bound to
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::vector<uintptr_t> hook_keys_;
  std::unique_ptr<GradientBucketer> bucketer_;
  bool syncing_ = true;
  bool finish_queued_ = false;
  DdpStats stats_;
};

}  // namespace baton::train
