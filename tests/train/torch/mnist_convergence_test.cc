// The tutorial's claim for synchronous SGD: convergence is similar whatever
// the number of processes. The example's own training loop (examples/mnist)
// runs one epoch on the first 8000 Fashion-MNIST images with 1, 2 and 4
// ranks and the global batch of 128 (lr 0.05: 63 steps); the losses must all drop below the
// untrained 2.30 and agree within 10%, and the test accuracy must show that
// the network learned. Skipped when Debian's dataset-fashion-mnist is absent.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "baton/baton.hpp"
#include "baton/train/mnist.hpp"
#include "tests/backends/suite_support.hpp"
#include "tests/support/rank_runner.hpp"
#include "trainer.hpp"

namespace {

using baton::testing::JobDir;

struct Outcome {
  double loss = 0;
  double accuracy = 0;
};

Outcome train_on(int world, bool ddp) {
  JobDir dir;
  const std::string out = dir.path() + "/outcome";
  baton::testing::run_ranks(
      world,
      [&](int rank, int n) {
        torch::set_num_threads(1);
        baton::InitOptions options;
        options.init_method = dir.init_method();
        options.rank = rank;
        options.world_size = n;
        options.timeout = std::chrono::seconds(60);
        baton::init_process_group(options);
        mnist::TrainConfig config;
        config.epochs = 1;
        config.limit = 8000;
        config.test_limit = 2000;
        config.ddp = ddp;
        config.lr = 0.05;  // 63 steps: a larger step than the tutorial's 0.01 to see learning
        const mnist::TrainResult result = mnist::train(config);
        if (rank == 0) std::ofstream(out) << result.epochs.at(0).mean_loss << " " << result.test_accuracy;
        baton::destroy_process_group();
      },
      {.timeout = std::chrono::seconds(150)});
  Outcome outcome;
  std::ifstream(out) >> outcome.loss >> outcome.accuracy;
  return outcome;
}

TEST(MnistConvergence, OneTwoAndFourRanksReachSimilarLoss) {
  if (!std::filesystem::exists(std::string(baton::train::kDefaultMnistDir) + "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)";
  }
  const Outcome one = train_on(1, false);
  const Outcome two = train_on(2, false);
  const Outcome four = train_on(4, true);
  std::printf("one epoch on 8000 images: loss 1 rank %.4f, 2 ranks %.4f, 4 ranks (DDP) %.4f; "
              "accuracy %.1f%% %.1f%% %.1f%%\n",
              one.loss, two.loss, four.loss, one.accuracy, two.accuracy, four.accuracy);
  for (const Outcome& o : {one, two, four}) {
    EXPECT_TRUE(std::isfinite(o.loss));
    EXPECT_LT(o.loss, 2.0) << "no learning: an untrained network scores 2.30";
    EXPECT_GT(o.accuracy, 40.0) << "chance is 10%";
  }
  const double lo = std::min({one.loss, two.loss, four.loss});
  const double hi = std::max({one.loss, two.loss, four.loss});
  EXPECT_LT(hi / lo, 1.10) << "losses differ by more than 10%";
}

}  // namespace
