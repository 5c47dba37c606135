// DistributedSampler: torch's padding/trimming and strided split over one
// permutation per (seed, epoch).
#include "baton/train/distributed_sampler.hpp"

#include <string>

#include "baton/error.hpp"
#include "train/shuffle.hpp"

namespace baton::train {

DistributedSampler::DistributedSampler(int64_t dataset_size, int num_replicas, int rank,
                                       bool shuffle, uint64_t seed, bool drop_last)
    : dataset_size_(dataset_size),
      num_replicas_(num_replicas),
      rank_(rank),
      shuffle_(shuffle),
      seed_(seed),
      drop_last_(drop_last) {
  if (dataset_size < 0) {
    throw InvalidArgument("DistributedSampler: dataset_size must be >= 0, got " +
                          std::to_string(dataset_size));
  }
  if (num_replicas < 1) {
    throw InvalidArgument("DistributedSampler: num_replicas must be >= 1, got " +
                          std::to_string(num_replicas));
  }
  if (rank < 0 || rank >= num_replicas) {
    throw InvalidArgument("DistributedSampler: rank must be in [0, " +
                          std::to_string(num_replicas) + "), got " + std::to_string(rank));
  }
  const int64_t r = num_replicas;
  num_samples_ = drop_last ? dataset_size / r : (dataset_size + r - 1) / r;
}

std::vector<int64_t> DistributedSampler::indices() const {
  std::vector<int64_t> all;
  if (shuffle_) {
    all = seeded_permutation(dataset_size_, seed_ + epoch_);
  } else {
    all.resize(static_cast<size_t>(dataset_size_));
    for (int64_t i = 0; i < dataset_size_; ++i) all[static_cast<size_t>(i)] = i;
  }
  const size_t total = static_cast<size_t>(total_size());
  if (!all.empty()) {
    // Pad by wrapping around to the start (as often as needed), or trim.
    for (size_t i = all.size(); i < total; ++i)
      all.push_back(all[i % static_cast<size_t>(dataset_size_)]);
  }
  all.resize(total);
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(num_samples_));
  for (size_t i = static_cast<size_t>(rank_); i < total; i += static_cast<size_t>(num_replicas_)) {
    mine.push_back(all[i]);
  }
  return mine;
}

}  // namespace baton::train
