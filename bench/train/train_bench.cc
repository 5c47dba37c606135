// baton-train-bench: time per training step of data-parallel SGD, and how
// much of the gradient communication DistributedDataParallel hides behind
// the backward pass.
//
//   baton-run --standalone --nproc-per-node 2 --no-prefix baton-train-bench --model mlp
//
// For one model (the tutorial's network, or an MLP 784-1024-1024-10 with 1.9 M
// parameters) each rank runs --steps SGD steps on random data in three modes:
//   local              no communication (each rank alone: the compute floor)
//   average_gradients  the tutorial's loop: backward, then one blocking
//                      all_reduce per parameter
//   ddp                DistributedDataParallel: bucketed all_reduces started
//                      from the backward pass
// and a fourth measurement, "buckets alone": the same buckets all_reduced
// back to back with nothing else running, i.e. what DDP's communication
// costs when nothing hides it. Hidden = 1 - (DDP step - local step) /
// buckets alone. Every step starts and ends with a barrier, so each mode
// times the slowest rank. Rank 0 prints medians over the steps.
#include <baton/baton.hpp>
#include <baton/train/torch.hpp>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "net.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct MlpImpl : torch::nn::Module {
  MlpImpl() {
    fc1 = register_module("fc1", torch::nn::Linear(784, 1024));
    fc2 = register_module("fc2", torch::nn::Linear(1024, 1024));
    fc3 = register_module("fc3", torch::nn::Linear(1024, 10));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(fc1->forward(x.view({-1, 784})));
    x = torch::relu(fc2->forward(x));
    return torch::log_softmax(fc3->forward(x), 1);
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
};
TORCH_MODULE(Mlp);

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Model {
  std::shared_ptr<torch::nn::Module> module;
  std::function<torch::Tensor(const torch::Tensor&)> forward;
};

Model make_model(const std::string& name) {
  torch::manual_seed(1234);
  if (name == "tutorial") {
    mnist::Net net(/*dropout=*/false);
    return {net.ptr(), [net](const torch::Tensor& x) mutable { return net->forward(x); }};
  }
  Mlp mlp;
  return {mlp.ptr(), [mlp](const torch::Tensor& x) mutable { return mlp->forward(x); }};
}

// Median milliseconds per step of `steps` SGD steps in `mode`.
double run_mode(const std::string& model_name, const std::string& mode, int steps, int64_t batch,
                size_t bucket_bytes, std::vector<size_t>* bucket_sizes) {
  Model model = make_model(model_name);
  std::unique_ptr<baton::train::DistributedDataParallel> ddp;
  if (mode == "ddp") {
    baton::train::DdpOptions options;
    options.bucket_bytes = bucket_bytes;
    ddp = std::make_unique<baton::train::DistributedDataParallel>(model.module, options);
    for (size_t b = 0; b < ddp->bucketer().num_buckets(); ++b) {
      bucket_sizes->push_back(ddp->bucketer().bucket_nbytes(b));
    }
  }
  torch::optim::SGD opt(model.module->parameters(), torch::optim::SGDOptions(0.01).momentum(0.5));
  const torch::Tensor x = torch::randn({batch, 1, 28, 28});
  const torch::Tensor y = torch::randint(0, 10, {batch}, torch::kInt64);
  std::vector<double> times;
  for (int step = 0; step < steps + 3; ++step) {
    baton::barrier();  // every rank starts the step together
    const auto start = Clock::now();
    opt.zero_grad();
    torch::nll_loss(model.forward(x), y).backward();
    if (mode == "average_gradients") baton::train::average_gradients(*model.module);
    opt.step();
    baton::barrier();  // a step ends when the slowest rank's does, in every mode
    if (step >= 3) times.push_back(ms_since(start));  // 3 warm-up steps
  }
  return median(times);
}

// Median milliseconds to all_reduce buckets of these sizes back to back.
double buckets_alone(const std::vector<size_t>& sizes, int steps) {
  std::vector<baton::Tensor> buckets;
  for (size_t bytes : sizes) buckets.push_back(baton::Tensor::ones({static_cast<int64_t>(bytes / 4)}));
  std::vector<double> times;
  for (int step = 0; step < steps + 3; ++step) {
    baton::barrier();
    const auto start = Clock::now();
    std::vector<baton::Work> works;
    for (auto& bucket : buckets) works.push_back(baton::all_reduce(bucket, baton::ReduceOp::SUM, baton::world(), baton::async_op));
    for (auto& work : works) work.wait();
    baton::barrier();
    if (step >= 3) times.push_back(ms_since(start));
  }
  return median(times);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "tutorial";
  int steps = 30;
  int64_t global_batch = 128;
  double bucket_mb = 25;
  CLI::App app{"Time per data-parallel training step: local, average_gradients, DDP"};
  app.add_option("--model", model, "tutorial or mlp")->check(CLI::IsMember({"tutorial", "mlp"}));
  app.add_option("--steps", steps, "Measured steps per mode")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", global_batch, "Global batch, split across ranks");
  app.add_option("--bucket-mb", bucket_mb, "DDP bucket size in MiB");
  CLI11_PARSE(app, argc, argv);
  try {
    baton::init_process_group();
    torch::set_num_threads(1);
    const int rank = baton::get_rank();
    const int size = baton::get_world_size();
    const int64_t batch = std::max<int64_t>(1, global_batch / size);
    const auto bucket_bytes = static_cast<size_t>(bucket_mb * 1048576.0);
    std::vector<size_t> bucket_sizes;
    const double local = run_mode(model, "local", steps, batch, bucket_bytes, &bucket_sizes);
    const double manual = run_mode(model, "average_gradients", steps, batch, bucket_bytes, &bucket_sizes);
    const double ddp = run_mode(model, "ddp", steps, batch, bucket_bytes, &bucket_sizes);
    const double alone = buckets_alone(bucket_sizes, steps);
    if (rank == 0) {
      size_t total = 0;
      for (size_t b : bucket_sizes) total += b;
      std::printf("model %s, %d ranks, batch %lld per rank, %zu buckets, %.2f MB of gradients\n",
                  model.c_str(), size, static_cast<long long>(batch), bucket_sizes.size(),
                  static_cast<double>(total) / 1e6);
      std::printf("%-20s %10s\n", "mode", "ms/step");
      std::printf("%-20s %10.3f\n", "local", local);
      std::printf("%-20s %10.3f\n", "average_gradients", manual);
      std::printf("%-20s %10.3f\n", "ddp", ddp);
      std::printf("%-20s %10.3f\n", "buckets alone", alone);
      const double exposed = std::max(0.0, ddp - local);
      std::printf("DDP communication hidden: %.0f%% (exposed %.3f ms of %.3f ms)\n",
                  alone > 0 ? 100.0 * std::max(0.0, 1.0 - exposed / alone) : 0.0, exposed, alone);
    }
    baton::destroy_process_group();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "baton-train-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
