// A permutation of 0..n-1 that is the same on every platform: std::mt19937_64
// (fully specified by the standard) driving a Fisher-Yates shuffle with
// unbiased bounded draws by rejection (std::shuffle and
// std::uniform_int_distribution are implementation-defined).
//
// Thread safety: pure function.
#pragma once

#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <vector>

namespace baton::train {

// A uniform draw from [0, bound), bound > 0.
inline uint64_t uniform_below(std::mt19937_64& gen, uint64_t bound) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t limit = max - (max % bound + 1) % bound;  // draws above it are rejected
  uint64_t r;
  do r = gen();
  while (r > limit);
  return r % bound;
}

inline std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = i;
  std::mt19937_64 gen(seed);
  for (size_t i = out.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(uniform_below(gen, i));
    std::swap(out[i - 1], out[j]);
  }
  return out;
}

}  // namespace baton::train
