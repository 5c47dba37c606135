// DataPartitioner: the tutorial's way to split a dataset between ranks.
//
// The indexes 0..N-1 are shuffled with a seeded generator, then cut into
// consecutive slices of int(fraction * N) indexes each, in the order of the
// fractions, as the tutorial's Python DataPartitioner(data, sizes, seed)
// does. Every rank builds the same partitioner (same N, fractions and seed)
// and takes use(rank), so the slices are disjoint and, when the fractions sum
// to 1, cover the data up to the rounding of int(fraction * N).
//
// The shuffle is std::mt19937_64 seeded with `seed` driving a Fisher-Yates
// shuffle with unbiased bounded draws (not std::shuffle, whose output differs
// between standard libraries), so the partitions are the same on every
// platform. They are not the ones Python's random.shuffle would give.
//
// Thread safety: immutable after construction; const methods may be called
// from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace baton::train {

class DataPartitioner {
 public:
  // Shuffles and cuts; O(N). Errors: InvalidArgument for a negative
  // dataset_size, an empty list of fractions, a fraction that is negative or
  // not finite, or fractions summing to more than 1 (beyond 1e-9).
  DataPartitioner(int64_t dataset_size, std::vector<double> fractions, uint64_t seed = 1234);

  // The dataset indexes of one partition. Non-blocking. Errors:
  // InvalidArgument when partition is not in [0, num_partitions()).
  const std::vector<int64_t>& use(int partition) const;
  size_t num_partitions() const { return partitions_.size(); }

 private:
  std::vector<std::vector<int64_t>> partitions_;
};

}  // namespace baton::train
