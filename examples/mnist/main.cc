// baton-mnist: the tutorial's distributed synchronous SGD.
//
// Run it under the launcher, one process per rank:
//
//   baton-run --standalone --nproc-per-node 2 baton-mnist --epochs 10
//
// Every rank trains the tutorial's network on its share of Fashion-MNIST
// (Debian's dataset-fashion-mnist; --data-dir for another MNIST-format
// directory), the global batch of 128 split across the ranks, and averages
// the gradients after every backward pass: by default with the tutorial's
// average_gradients (one all_reduce per parameter); with --ddp through
// DistributedDataParallel, whose bucketed all_reduces overlap the backward
// pass. Each rank prints "Rank r, epoch e: <mean loss>" as the tutorial does;
// rank 0 then prints the time per epoch, the share of it spent waiting for
// communication, the accuracy on the 10,000 test images, and whether every
// rank ended with the same parameters (synchronous SGD keeps one model).
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <baton/baton.hpp>
#include <cstdio>
#include <exception>

#include "trainer.hpp"

int main(int argc, char** argv) {
  mnist::TrainConfig config;
  int threads = 1;
  CLI::App app{"The tutorial's distributed training on (Fashion-)MNIST"};
  app.add_option("--epochs", config.epochs, "Epochs to train")->check(CLI::PositiveNumber);
  app.add_option("--data-dir", config.data_dir,
                 "Directory with the MNIST-format files (default: Debian's dataset-fashion-mnist)");
  app.add_flag("--ddp", config.ddp, "Use DistributedDataParallel instead of average_gradients");
  app.add_option("--batch-size", config.global_batch, "Global batch, split across ranks")
      ->check(CLI::PositiveNumber);
  app.add_option("--limit", config.limit, "Train on the first N images only (0: all)");
  app.add_option("--test-limit", config.test_limit, "Score the first N test images only (0: all)");
  app.add_option("--threads", threads, "Compute threads per rank")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    // Step 1: join the job (rank, world size and the store come from baton-run).
    baton::init_process_group();
    const int rank = baton::get_rank();
    torch::set_num_threads(threads);

    // Step 2: train; every rank prints its epoch losses as the tutorial does.
    double seconds = 0, comm = 0;
    const mnist::TrainResult result = mnist::train(config, [&](const mnist::EpochReport& epoch) {
      std::printf("Rank %d, epoch %d: %.6f\n", rank, epoch.epoch, epoch.mean_loss);
      std::fflush(stdout);
      seconds += epoch.seconds;
      comm += epoch.comm_seconds;
    });

    // Step 3: rank 0 reports time and the test accuracy that all ranks agreed on.
    if (rank == 0) {
      const double per_epoch = seconds / config.epochs;
      std::printf(
          "Time per epoch: %.2f s, waiting for gradient averaging %.3f s (%.1f%%) with %s\n",
          per_epoch, comm / config.epochs, seconds > 0 ? 100.0 * comm / seconds : 0.0,
          config.ddp ? "DistributedDataParallel" : "average_gradients");
      std::printf("Test accuracy: %.2f%% (%lld images)\n", result.test_accuracy,
                  static_cast<long long>(result.test_images));
      std::printf("Parameters identical on every rank: %s\n",
                  result.parameters_agree ? "yes" : "no");
      std::fflush(stdout);
    }
    baton::destroy_process_group();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "baton-mnist: %s\n", e.what());
    return 1;
  }
  return 0;
}
