// DataPartitioner and DistributedSampler: disjoint shards that cover the
// data, the tutorial's sizes, determinism per seed, torch's padding rules.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

#include "baton/error.hpp"
#include "baton/train/data_partitioner.hpp"
#include "baton/train/distributed_sampler.hpp"

namespace baton::train {
namespace {

TEST(DataPartitionerTest, ShardsAreDisjointAndCoverTheData) {
  for (int world : {1, 2, 3, 4, 7}) {
    const int64_t n = 60000;
    std::vector<double> fractions(static_cast<size_t>(world), 1.0 / world);
    DataPartitioner partitioner(n, fractions);
    ASSERT_EQ(partitioner.num_partitions(), static_cast<size_t>(world));
    std::vector<int> seen(static_cast<size_t>(n), 0);
    int64_t total = 0;
    for (int r = 0; r < world; ++r) {
      const auto& part = partitioner.use(r);
      // The tutorial's sizes: int(frac * N) each.
      EXPECT_EQ(static_cast<int64_t>(part.size()), static_cast<int64_t>(1.0 / world * n))
          << "world " << world;
      for (int64_t i : part) {
        ASSERT_GE(i, 0);
        ASSERT_LT(i, n);
        ++seen[static_cast<size_t>(i)];
      }
      total += static_cast<int64_t>(part.size());
    }
    EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int c) { return c <= 1; }))
        << "overlap, world " << world;
    // Covered up to the rounding of int(frac * N): fewer than `world` left out.
    EXPECT_GT(total, n - world) << "world " << world;
  }
}

TEST(DataPartitionerTest, UnevenFractionsAndTheTutorialSizes) {
  DataPartitioner partitioner(10, {0.7, 0.2, 0.1});
  EXPECT_EQ(partitioner.use(0).size(), 7u);
  EXPECT_EQ(partitioner.use(1).size(), 2u);
  EXPECT_EQ(partitioner.use(2).size(), 1u);
  std::set<int64_t> all;
  for (int r = 0; r < 3; ++r) all.insert(partitioner.use(r).begin(), partitioner.use(r).end());
  EXPECT_EQ(all.size(), 10u);
  DataPartitioner partial(100, {0.25, 0.5});  // a sum below 1 leaves data unused
  EXPECT_EQ(partial.use(0).size(), 25u);
  EXPECT_EQ(partial.use(1).size(), 50u);
  DataPartitioner empty(0, {0.5, 0.5});
  EXPECT_TRUE(empty.use(1).empty());
}

TEST(DataPartitionerTest, DeterministicPerSeedAndShuffled) {
  DataPartitioner a(1000, {0.5, 0.5}, 1234);
  DataPartitioner b(1000, {0.5, 0.5}, 1234);
  DataPartitioner c(1000, {0.5, 0.5}, 1235);
  EXPECT_EQ(a.use(0), b.use(0));
  EXPECT_EQ(a.use(1), b.use(1));
  EXPECT_NE(a.use(0), c.use(0));
  std::vector<int64_t> sorted = a.use(0);
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NE(sorted, a.use(0)) << "not shuffled";
  // Pinned: the permutation is specified (mt19937_64 + Fisher-Yates with
  // rejection draws), so it must not change between platforms or releases.
  EXPECT_EQ(DataPartitioner(10, {1.0}, 1234).use(0),
            (std::vector<int64_t>{0, 3, 4, 7, 9, 8, 5, 6, 1, 2}));
  DistributedSampler sampler(8, 1, 0, true, 7);
  EXPECT_EQ(sampler.indices(), (std::vector<int64_t>{2, 3, 5, 6, 1, 0, 4, 7}));
}

TEST(DataPartitionerTest, BadArgumentsAreRefused) {
  EXPECT_THROW(DataPartitioner(10, {0.6, 0.6}), InvalidArgument);
  EXPECT_THROW(DataPartitioner(10, {-0.1, 0.5}), InvalidArgument);
  EXPECT_THROW(DataPartitioner(10, {}), InvalidArgument);
  EXPECT_THROW(DataPartitioner(-1, {1.0}), InvalidArgument);
  EXPECT_NO_THROW(DataPartitioner(10, {1.0 / 3, 1.0 / 3, 1.0 / 3}));  // rounding within eps
  DataPartitioner p(10, {0.5, 0.5});
  EXPECT_THROW(p.use(2), InvalidArgument);
  EXPECT_THROW(p.use(-1), InvalidArgument);
  try {
    p.use(5);
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "DataPartitioner::use: partition must be in [0, 2), got 5");
  }
}

std::vector<std::vector<int64_t>> shares(int64_t n, int world, bool shuffle, uint64_t seed,
                                         bool drop_last, uint64_t epoch) {
  std::vector<std::vector<int64_t>> out;
  for (int r = 0; r < world; ++r) {
    DistributedSampler s(n, world, r, shuffle, seed, drop_last);
    s.set_epoch(epoch);
    out.push_back(s.indices());
    EXPECT_EQ(static_cast<int64_t>(out.back().size()), s.num_samples());
  }
  return out;
}

TEST(DistributedSamplerTest, SharesAreDisjointAndPaddedLikeTorch) {
  for (int64_t n : {0, 1, 5, 10, 11, 101}) {
    for (int world : {1, 2, 3, 4, 8}) {
      auto all = shares(n, world, true, 7, false, 0);
      const int64_t per_rank = (n + world - 1) / world;
      std::vector<int> count(static_cast<size_t>(n), 0);
      for (const auto& mine : all) {
        ASSERT_EQ(static_cast<int64_t>(mine.size()), per_rank);
        for (int64_t i : mine) ++count[static_cast<size_t>(i)];
      }
      // Every index at least once; the padding (per_rank*world - n) repeats some.
      int64_t extra = 0;
      for (int c : count) {
        EXPECT_GE(c, 1) << "n " << n << " world " << world;
        extra += c - 1;
      }
      EXPECT_EQ(extra, n == 0 ? 0 : per_rank * world - n) << "n " << n << " world " << world;
    }
  }
}

TEST(DistributedSamplerTest, DropLastTrimsToDisjointShares) {
  auto all = shares(11, 4, true, 3, true, 0);
  std::set<int64_t> seen;
  for (const auto& mine : all) {
    EXPECT_EQ(mine.size(), 2u);
    for (int64_t i : mine) EXPECT_TRUE(seen.insert(i).second) << "index " << i << " twice";
  }
  EXPECT_EQ(seen.size(), 8u);
}

TEST(DistributedSamplerTest, WithoutShuffleRankTakesEveryRthIndex) {
  auto all = shares(7, 3, false, 0, false, 5);
  EXPECT_EQ(all[0], (std::vector<int64_t>{0, 3, 6}));
  EXPECT_EQ(all[1], (std::vector<int64_t>{1, 4, 0}));  // padded from the start
  EXPECT_EQ(all[2], (std::vector<int64_t>{2, 5, 1}));
}

TEST(DistributedSamplerTest, EpochsReshuffleTheSameWayOnEveryRank) {
  const auto e0 = shares(1000, 2, true, 42, false, 0);
  const auto e0_again = shares(1000, 2, true, 42, false, 0);
  const auto e1 = shares(1000, 2, true, 42, false, 1);
  const auto other_seed = shares(1000, 2, true, 43, false, 0);
  EXPECT_EQ(e0, e0_again);
  EXPECT_NE(e0[0], e1[0]);
  EXPECT_NE(e0[0], other_seed[0]);
  // Within an epoch the two ranks' shares still partition the data.
  for (const auto& epoch : {e0, e1}) {
    std::set<int64_t> all(epoch[0].begin(), epoch[0].end());
    all.insert(epoch[1].begin(), epoch[1].end());
    EXPECT_EQ(all.size(), 1000u);
  }
}

TEST(DistributedSamplerTest, BadArgumentsAreRefused) {
  EXPECT_THROW(DistributedSampler(10, 0, 0), InvalidArgument);
  EXPECT_THROW(DistributedSampler(10, 2, 2), InvalidArgument);
  EXPECT_THROW(DistributedSampler(10, 2, -1), InvalidArgument);
  EXPECT_THROW(DistributedSampler(-5, 2, 0), InvalidArgument);
}

}  // namespace
}  // namespace baton::train
