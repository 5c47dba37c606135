// DistributedSampler: each rank's share of a dataset, reshuffled every epoch.
//
// Like torch.utils.data.DistributedSampler: every rank draws the same
// permutation of 0..N-1 for a given (seed, epoch), makes its length a
// multiple of num_replicas (by repeating indexes from the start, or with
// drop_last by dropping the tail), and rank r takes positions r, r + R,
// r + 2R, ... So the ranks' shares are disjoint apart from the padding and
// each holds num_samples() indexes. Call set_epoch(e) at the start of each
// epoch, with the same e on every rank, to get a new order.
//
// The permutation comes from std::mt19937_64 seeded with seed + epoch and a
// Fisher-Yates shuffle (the same on every platform; not torch's randperm).
//
// Thread safety: set_epoch() must not race with other calls; const methods
// may be called from several threads.
#pragma once

#include <cstdint>
#include <vector>

namespace baton::train {

class DistributedSampler {
 public:
  // Errors: InvalidArgument for a negative dataset_size, num_replicas < 1,
  // or a rank outside [0, num_replicas).
  DistributedSampler(int64_t dataset_size, int num_replicas, int rank, bool shuffle = true,
                     uint64_t seed = 0, bool drop_last = false);

  void set_epoch(uint64_t epoch) { epoch_ = epoch; }
  uint64_t epoch() const { return epoch_; }

  // This rank's indexes for the current epoch, num_samples() of them, in the
  // order to visit them. O(N); non-blocking.
  std::vector<int64_t> indices() const;
  // Indexes per rank: ceil(N / R), or floor(N / R) with drop_last.
  int64_t num_samples() const { return num_samples_; }
  // num_samples() * num_replicas: the padded (or trimmed) dataset length.
  int64_t total_size() const { return num_samples_ * num_replicas_; }

 private:
  int64_t dataset_size_;
  int num_replicas_;
  int rank_;
  bool shuffle_;
  uint64_t seed_;
  bool drop_last_;
  uint64_t epoch_ = 0;
  int64_t num_samples_ = 0;
};

}  // namespace baton::train
