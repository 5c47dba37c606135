// The tutorial's synchronous SGD on (Fashion-)MNIST, as a function that the
// example's main() and the convergence tests share.
//
// train() runs on every rank of the current process group:
//   1. load the training set, keep the first `limit` images when set;
//   2. DataPartitioner(size, [1/world]*world, seed 1234).use(rank) gives
//      this rank's share; the global batch of 128 is split across ranks;
//   3. each epoch: shuffle the share, and for each batch forward, nll_loss,
//      backward, then average the gradients (average_gradients per
//      parameter, or DistributedDataParallel's overlapped buckets), then an
//      SGD step (lr 0.01, momentum 0.5) — every rank takes the same step;
//   4. report each epoch's mean loss through `on_epoch`;
//   5. test accuracy on the test set, each rank scoring a shard and one
//      all_reduce adding the counts.
//
// Thread safety: one call per process at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mnist {

struct TrainConfig {
  int epochs = 10;
  std::string data_dir;        // empty: Debian's dataset-fashion-mnist
  bool ddp = false;            // DistributedDataParallel instead of average_gradients
  int64_t global_batch = 128;  // split across ranks
  double lr = 0.01;
  double momentum = 0.5;
  uint64_t seed = 1234;
  int64_t limit = 0;       // use only the first `limit` training images (0: all)
  int64_t test_limit = 0;  // score only the first `test_limit` test images (0: all)
  bool dropout = true;
};

struct EpochReport {
  int epoch = 0;
  double mean_loss = 0;
  double seconds = 0;       // wall time of the epoch
  double comm_seconds = 0;  // time the training loop waited for gradient averaging
};

struct TrainResult {
  std::vector<EpochReport> epochs;
  double test_accuracy = 0;  // percent
  int64_t test_images = 0;
  // Synchronous SGD keeps one model: every rank ends with the same
  // parameters, bit for bit (the collectives give every rank the same sum).
  // Checked by comparing a fingerprint of them across ranks.
  bool parameters_agree = false;
};

// Trains on the initialised process group. Blocks for the whole run.
// Errors: baton::IoError naming the data path (and the Debian package) when
// the data is missing; the collectives' errors.
TrainResult train(const TrainConfig& config,
                  const std::function<void(const EpochReport&)>& on_epoch = {});

}  // namespace mnist
