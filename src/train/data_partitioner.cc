// DataPartitioner: a seeded shuffle cut into slices of int(fraction * N).
#include "baton/train/data_partitioner.hpp"

#include <cmath>
#include <string>

#include "baton/error.hpp"
#include "train/shuffle.hpp"

namespace baton::train {

DataPartitioner::DataPartitioner(int64_t dataset_size, std::vector<double> fractions,
                                 uint64_t seed) {
  if (dataset_size < 0) {
    throw InvalidArgument("DataPartitioner: dataset_size must be >= 0, got " +
                          std::to_string(dataset_size));
  }
  if (fractions.empty())
    throw InvalidArgument("DataPartitioner: expected at least one fraction, got none");
  double sum = 0;
  for (size_t i = 0; i < fractions.size(); ++i) {
    if (!std::isfinite(fractions[i]) || fractions[i] < 0) {
      throw InvalidArgument("DataPartitioner: fraction " + std::to_string(i) +
                            " must be a finite number >= 0, got " + std::to_string(fractions[i]));
    }
    sum += fractions[i];
  }
  if (sum > 1 + 1e-9) {
    throw InvalidArgument("DataPartitioner: fractions must sum to at most 1, got " +
                          std::to_string(sum));
  }
  const std::vector<int64_t> indexes = seeded_permutation(dataset_size, seed);
  size_t start = 0;
  for (double fraction : fractions) {
    // Python's int(frac * data_len); the sum check keeps it within the data.
    size_t length = static_cast<size_t>(fraction * static_cast<double>(dataset_size));
    if (length > indexes.size() - start) length = indexes.size() - start;
    partitions_.emplace_back(indexes.begin() + static_cast<std::ptrdiff_t>(start),
                             indexes.begin() + static_cast<std::ptrdiff_t>(start + length));
    start += length;
  }
}

const std::vector<int64_t>& DataPartitioner::use(int partition) const {
  if (partition < 0 || static_cast<size_t>(partition) >= partitions_.size()) {
    throw InvalidArgument("DataPartitioner::use: partition must be in [0, " +
                          std::to_string(partitions_.size()) + "), got " +
                          std::to_string(partition));
  }
  return partitions_[static_cast<size_t>(partition)];
}

}  // namespace baton::train
