// GradientBucketer and average_gradients on 1-3 forked ranks: bucket
// assignment by size and dtype, results equal to a per-tensor all_reduce then
// divide, readiness in any order (and a different order on each rank), from
// several threads, repeated iterations, unmarked grads, misuse errors.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "baton/baton.hpp"
#include "baton/train/average_gradients.hpp"
#include "baton/train/gradient_bucketer.hpp"
#include "tests/backends/suite_support.hpp"
#include "tests/train/with_process_group.hpp"
#include "tests/support/scoped_env.hpp"

namespace baton::train {
namespace {

using baton::testing::JobDir;

using baton::testing::with_process_group;

// Element i of grad g on rank r in iteration it: small integers, exact in every dtype.
double grad_value(int rank, size_t g, int64_t i, int it) {
  return static_cast<double>((rank * 5 + static_cast<int64_t>(g) * 3 + i * 7 + it) % 13 + 1);
}

struct Spec {
  int64_t numel;
  DType dtype;
};

std::vector<Tensor> make_grads(const std::vector<Spec>& specs, int rank, int it) {
  std::vector<Tensor> grads;
  for (size_t g = 0; g < specs.size(); ++g) {
    Tensor t = Tensor::empty({specs[g].numel}, specs[g].dtype);
    baton::testing::fill_with(t, [&](int64_t i) { return grad_value(rank, g, i, it); });
    grads.push_back(t);
  }
  return grads;
}

// Fills the bucketer's grads (views: writing them writes what it reduces).
void refill(std::vector<Tensor>& grads, int rank, int it) {
  for (size_t g = 0; g < grads.size(); ++g) {
    baton::testing::fill_with(grads[g], [&](int64_t i) { return grad_value(rank, g, i, it); });
  }
}

// The reference: each tensor all_reduced on its own, then divided like torch's grad /= size.
std::vector<Tensor> reference(const std::vector<Tensor>& grads, bool average) {
  std::vector<Tensor> out;
  for (const Tensor& g : grads) out.push_back(g.clone());
  for (Tensor& t : out) {
    all_reduce(t);
    if (average) t /= static_cast<double>(get_world_size());
  }
  return out;
}

void expect_equal(const std::vector<Tensor>& actual, const std::vector<Tensor>& expected, int rank,
                  const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t g = 0; g < actual.size(); ++g) {
    ASSERT_EQ(actual[g].dtype(), expected[g].dtype());
    for (int64_t i = 0; i < actual[g].numel(); ++i) {
      ASSERT_EQ(actual[g].item(i), expected[g].item(i))
          << what << ": rank " << rank << " grad " << g << " index " << i;
    }
  }
}

TEST(GradientBucketerTest, AssignsBucketsBySizeAndDtypeInOrder) {
  with_process_group(1, [](int, int) {
    // float32: 40 + 40 bytes fit in 100; the third would not; 160 bytes alone.
    // float64 grads fill their own open bucket between the float32 ones.
    std::vector<Tensor> grads = make_grads({{10, DType::Float32},
                                            {5, DType::Float64},
                                            {10, DType::Float32},
                                            {10, DType::Float32},
                                            {5, DType::Float64},
                                            {40, DType::Float32},
                                            {2, DType::Float32},
                                            {0, DType::Float32}},
                                           0, 0);
    GradientBucketer bucketer(grads, {.bucket_bytes = 100});
    ASSERT_EQ(bucketer.num_grads(), 8u);
    ASSERT_EQ(bucketer.num_buckets(), 5u);
    EXPECT_EQ(bucketer.bucket_members(0), (std::vector<size_t>{0, 2}));
    EXPECT_EQ(bucketer.bucket_members(1), (std::vector<size_t>{1, 4}));
    EXPECT_EQ(bucketer.bucket_members(2), (std::vector<size_t>{3}));
    EXPECT_EQ(bucketer.bucket_members(3), (std::vector<size_t>{5}));  // 160 bytes, alone
    EXPECT_EQ(bucketer.bucket_members(4), (std::vector<size_t>{6, 7}));
    EXPECT_EQ(bucketer.bucket_of(4), 1u);
    EXPECT_EQ(bucketer.bucket_nbytes(0), 80u);
    EXPECT_EQ(bucketer.bucket_nbytes(3), 160u);
    EXPECT_EQ(bucketer.bucket_nbytes(4), 8u);
    EXPECT_THROW(bucketer.bucket_of(8), InvalidArgument);
    EXPECT_THROW(bucketer.bucket_members(5), InvalidArgument);

    GradientBucketer one_bucket(grads, {.bucket_bytes = 1 << 20});
    EXPECT_EQ(one_bucket.num_buckets(), 2u);  // one per dtype

    // A small first bucket per dtype, then the usual cap.
    GradientBucketer first_small(grads, {.bucket_bytes = 1 << 20, .first_bucket_bytes = 40});
    ASSERT_EQ(first_small.num_buckets(), 4u);
    EXPECT_EQ(first_small.bucket_members(0), (std::vector<size_t>{0}));  // f32's first: 40 bytes
    EXPECT_EQ(first_small.bucket_members(1), (std::vector<size_t>{1}));  // f64's first: 40 bytes
    EXPECT_EQ(first_small.bucket_members(2), (std::vector<size_t>{2, 3, 5, 6, 7}));
    EXPECT_EQ(first_small.bucket_members(3), (std::vector<size_t>{4}));
  });
}

TEST(GradientBucketerTest, DefaultBucketBytesAndBadOptions) {
  {
    baton::testing::ScopedEnv env("BATON_BUCKET_BYTES", std::nullopt);
    EXPECT_EQ(default_bucket_bytes(), size_t{25} << 20);
  }
  {
    baton::testing::ScopedEnv env("BATON_BUCKET_BYTES", "4096");
    EXPECT_EQ(default_bucket_bytes(), 4096u);
  }
  {
    baton::testing::ScopedEnv env("BATON_BUCKET_BYTES", "0");
    EXPECT_THROW(default_bucket_bytes(), InvalidArgument);
  }
  with_process_group(1, [](int, int) {
    std::vector<Tensor> grads = make_grads({{4, DType::Float32}}, 0, 0);
    EXPECT_THROW(GradientBucketer(grads, {.bucket_bytes = 0}), InvalidArgument);
    EXPECT_THROW(GradientBucketer({Tensor()}), InvalidArgument);
    EXPECT_THROW(GradientBucketer({Tensor::zeros({2}, DType::Bool)}), InvalidArgument);
    EXPECT_THROW(GradientBucketer(grads, {.bucket_bytes = 64, .group = Group()}), InvalidArgument);
  });
}

// The same grads bucketed several ways; every way must equal the reference.
void check_matches_reference(int n, size_t bucket_bytes, bool average,
                             size_t first_bucket_bytes = 0) {
  const std::vector<Spec> specs = {
      {33, DType::Float32},  {7, DType::Float64},  {1, DType::Float32},
      {100, DType::Float32}, {5, DType::Int32},    {17, DType::BFloat16},
      {0, DType::Float32},   {64, DType::Float16}, {9, DType::Int64}};
  with_process_group(n, [&](int rank, int) {
    std::vector<Tensor> grads = make_grads(specs, rank, 0);
    GradientBucketer bucketer(grads, {.bucket_bytes = bucket_bytes,
                                      .average = average,
                                      .first_bucket_bytes = first_bucket_bytes});
    for (int it = 0; it < 3; ++it) {  // repeated iterations reuse the buffers
      refill(grads, rank, it);
      const std::vector<Tensor> expected = reference(grads, average);
      for (size_t g = 0; g < grads.size(); ++g) bucketer.mark_ready(g);
      bucketer.finish();
      EXPECT_EQ(bucketer.num_started(), 0u);
      expect_equal(grads, expected, rank, "iteration " + std::to_string(it));
    }
  });
}

TEST(GradientBucketerTest, MatchesPerTensorAllReduceThenAverage2Ranks) {
  check_matches_reference(2, 64, true);
  check_matches_reference(2, size_t{25} << 20, true);
  check_matches_reference(2, size_t{25} << 20, true, 64);
}

TEST(GradientBucketerTest, MatchesPerTensorAllReduceThenAverage3Ranks) {
  check_matches_reference(3, 100, true);
  check_matches_reference(3, 1, true);     // one tensor per bucket
  check_matches_reference(3, 256, false);  // sums
}

TEST(GradientBucketerTest, ClosedFormAverageOnThreeRanks) {
  with_process_group(3, [](int rank, int n) {
    std::vector<Tensor> grads = make_grads({{50, DType::Float32}, {20, DType::Float32}}, rank, 0);
    GradientBucketer bucketer(grads, {.bucket_bytes = 200});
    bucketer.mark_ready(1);
    bucketer.mark_ready(0);
    bucketer.finish();
    for (size_t g = 0; g < 2; ++g) {
      for (int64_t i = 0; i < grads[g].numel(); ++i) {
        double sum = 0;
        for (int r = 0; r < n; ++r) sum += grad_value(r, g, i, 0);
        ASSERT_EQ(grads[g].data<float>()[static_cast<size_t>(i)],
                  static_cast<float>(sum) / static_cast<float>(n))
            << "rank " << rank << " grad " << g << " index " << i;
      }
    }
  });
}

// Buckets start in bucket order whatever the readiness order: a bucket that
// is complete early waits. Each rank marks in a different order, which
// would mismatch the collectives if a rank started out of order.
TEST(GradientBucketerTest, OutOfOrderReadinessStartsBucketsInOrder) {
  with_process_group(3, [](int rank, int) {
    const std::vector<Spec> specs(6, Spec{8, DType::Float32});  // 32 bytes each
    std::vector<Tensor> grads = make_grads(specs, rank, 0);
    GradientBucketer bucketer(grads, {.bucket_bytes = 64});  // buckets {0,1} {2,3} {4,5}
    ASSERT_EQ(bucketer.num_buckets(), 3u);
    for (int it = 0; it < 2; ++it) {
      refill(grads, rank, it);
      const std::vector<Tensor> expected = reference(grads, true);
      if (rank == 0) {
        bucketer.mark_ready(5);
        bucketer.mark_ready(4);  // bucket 2 complete, held
        EXPECT_EQ(bucketer.num_started(), 0u);
        bucketer.mark_ready(2);
        bucketer.mark_ready(3);  // bucket 1 complete, held
        EXPECT_EQ(bucketer.num_started(), 0u);
        bucketer.mark_ready(1);
        EXPECT_EQ(bucketer.num_started(), 0u);
        bucketer.mark_ready(0);  // all three start, in order
        EXPECT_EQ(bucketer.num_started(), 3u);
      } else if (rank == 1) {
        for (size_t g = 0; g < 6; ++g) {
          bucketer.mark_ready(g);
          EXPECT_EQ(bucketer.num_started(), (g + 1) / 2);  // each bucket as soon as it is full
        }
      } else {
        for (size_t g : {3u, 0u, 4u, 1u, 5u, 2u}) bucketer.mark_ready(g);
      }
      // Overwriting a grad after mark_ready does not change what is reduced.
      grads[0].fill_(1000);
      bucketer.finish();
      expect_equal(grads, expected, rank, "iteration " + std::to_string(it));
    }
  });
}

TEST(GradientBucketerTest, MarkReadyFromSeveralThreads) {
  with_process_group(2, [](int rank, int) {
    const std::vector<Spec> specs(40, Spec{25, DType::Float32});
    std::vector<Tensor> grads = make_grads(specs, rank, 0);
    GradientBucketer bucketer(grads, {.bucket_bytes = 300});
    const std::vector<Tensor> expected = reference(grads, true);
    std::vector<std::jthread> threads;
    for (size_t t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (size_t g = t; g < grads.size(); g += 4) bucketer.mark_ready(g);
      });
    }
    threads.clear();  // joins
    EXPECT_EQ(bucketer.num_started(), bucketer.num_buckets());
    bucketer.finish();
    expect_equal(grads, expected, rank, "threads");
  });
}

TEST(GradientBucketerTest, UnmarkedGradsAreReducedAsTheyAre) {
  with_process_group(2, [](int rank, int) {
    std::vector<Tensor> grads =
        make_grads({{6, DType::Float32}, {6, DType::Float32}, {6, DType::Float64}}, rank, 0);
    GradientBucketer bucketer(grads, {.bucket_bytes = 24});
    const std::vector<Tensor> expected = reference(grads, true);
    if (rank == 0) bucketer.mark_ready(1);  // rank 1 marks nothing at all
    bucketer.finish();
    expect_equal(grads, expected, rank, "unmarked");
  });
}

TEST(GradientBucketerTest, MisuseIsAnInvalidArgument) {
  with_process_group(2, [](int rank, int) {
    std::vector<Tensor> grads = make_grads({{4, DType::Float32}, {4, DType::Float32}}, rank, 0);
    GradientBucketer bucketer(grads, {.bucket_bytes = 16});
    bucketer.mark_ready(0);
    try {
      bucketer.mark_ready(0);
      ADD_FAILURE() << "second mark_ready accepted";
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("grad 0 was already marked ready"), std::string::npos)
          << e.what();
    }
    EXPECT_THROW(bucketer.mark_ready(2), InvalidArgument);
    EXPECT_THROW(bucketer.rebind(0, Tensor::zeros({4})), InvalidArgument);  // already ready
    EXPECT_THROW(bucketer.rebind(1, Tensor::zeros({5})), InvalidArgument);  // wrong size
    EXPECT_THROW(bucketer.rebind(1, Tensor::zeros({4}, DType::Float64)), InvalidArgument);
    Tensor replacement = Tensor::full({4}, rank + 1.0);
    bucketer.rebind(1, replacement);
    bucketer.mark_ready(1);
    bucketer.finish();
    EXPECT_EQ(replacement.item(0), 1.5);  // (1 + 2) / 2, written into the new view
    EXPECT_EQ(grads[1].item(0), grad_value(rank, 1, 0, 0));  // the old view untouched
    bucketer.mark_ready(0);  // a new iteration accepts every index again
    bucketer.finish();
  });
}

TEST(AverageGradientsTest, MatchesTheTutorialOnThreeRanks) {
  with_process_group(3, [](int rank, int) {
    std::vector<Tensor> grads = make_grads(
        {{10, DType::Float32}, {3, DType::Float64}, {0, DType::Float32}, {4, DType::Int32}}, rank,
        0);
    const std::vector<Tensor> expected = reference(grads, true);
    average_gradients(grads);
    expect_equal(grads, expected, rank, "average_gradients");
    std::vector<Tensor> bad = {Tensor::ones({2}), Tensor()};
    EXPECT_THROW(average_gradients(bad), InvalidArgument);
  });
}

}  // namespace
}  // namespace baton::train
