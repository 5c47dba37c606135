// collectives_tour: each collective of the tutorial once, plus barrier.
//
// Run it under the launcher with four ranks (any number of ranks works; the
// expected values are computed from the world size):
//
//   baton-run --standalone --nproc-per-node 4 ./collectives_tour
//
// A collective is an operation that every rank of a group calls together.
// The tour goes through the tutorial's six (broadcast, reduce, all_reduce
// with each of SUM, PRODUCT, MIN and MAX, scatter, gather, all_gather), then
// two that torch.distributed adds (reduce_scatter and all_to_all), and ends
// with a barrier. Each rank starts from data that depends only on its rank,
// prints what it holds afterwards ("tensor([...])"), and checks it against a
// closed-form expectation; a wrong value makes the program exit with 1.
#include <baton/baton.hpp>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

int g_rank = 0;
int g_failures = 0;

// A 1-D float tensor holding `values`.
baton::Tensor make(const std::vector<double>& values) {
  baton::Tensor t = baton::Tensor::empty({static_cast<int64_t>(values.size())});
  auto data = t.data<float>();
  for (size_t i = 0; i < values.size(); ++i) data[i] = static_cast<float>(values[i]);
  return t;
}

// Prints "Rank r: <what> -> tensor([...])" and checks the values exactly
// (every value in this tour is a small integer, so float arithmetic is exact).
void show(const std::string& what, const baton::Tensor& got, const std::vector<double>& want) {
  std::ostringstream line;
  line << "Rank " << g_rank << ": " << what << " -> " << got << '\n';
  std::cout << line.str() << std::flush;
  bool ok = got.numel() == static_cast<int64_t>(want.size());
  for (int64_t i = 0; ok && i < got.numel(); ++i) ok = got.item(i) == want[static_cast<size_t>(i)];
  if (!ok) {
    std::cerr << "Rank " << g_rank << ": " << what << " is wrong: expected " << make(want)
              << ", got " << got << '\n';
    ++g_failures;
  }
}

}  // namespace

int main() {
  // Step 1: join the job (env://, set up by baton-run).
  baton::init_process_group();
  const int rank = baton::get_rank();
  const int n = baton::get_world_size();
  g_rank = rank;

  // Step 2: broadcast. The root's tensor is copied to every rank; what the
  // others held before is overwritten. Root 1 holds [1, 2, 3].
  {
    const int src = 1 % n;
    baton::Tensor t = rank == src ? make({1, 2, 3}) : make({0, 0, 0});
    baton::broadcast(t, src);
    show("broadcast from " + std::to_string(src), t, {1, 2, 3});
  }

  // Step 3: reduce. Rank r contributes [r+1, r+1]; only the destination
  // (rank 0) gets the sum 1 + 2 + ... + n; the others' tensors are left
  // unspecified, as in torch.
  {
    baton::Tensor t = make({rank + 1.0, rank + 1.0});
    baton::reduce(t, /*dst=*/0, baton::ReduceOp::SUM);
    const double sum = n * (n + 1) / 2.0;
    if (rank == 0) show("reduce(SUM) to 0", t, {sum, sum});
  }

  // Step 4: all_reduce, once per reduce op. Rank r contributes element i =
  // r + 1 + i, so over ranks 0..n-1 element i sums to n(n+1)/2 + n*i, its
  // product is (i+1)(i+2)...(i+n), its minimum is i+1 and its maximum i+n.
  {
    const std::vector<double> input = {rank + 1.0, rank + 2.0, rank + 3.0};
    std::vector<double> sum(3), product(3), minimum(3), maximum(3);
    for (size_t i = 0; i < 3; ++i) {
      const double x = static_cast<double>(i);
      sum[i] = n * (n + 1) / 2.0 + n * x;
      product[i] = 1;
      for (int r = 0; r < n; ++r) product[i] *= r + 1 + x;
      minimum[i] = x + 1;
      maximum[i] = x + n;
    }
    const std::pair<baton::ReduceOp, const std::vector<double>*> cases[] = {
        {baton::ReduceOp::SUM, &sum},
        {baton::ReduceOp::PRODUCT, &product},
        {baton::ReduceOp::MIN, &minimum},
        {baton::ReduceOp::MAX, &maximum}};
    for (const auto& [op, want] : cases) {
      baton::Tensor t = make(input);
      baton::all_reduce(t, op);
      std::ostringstream what;
      what << "all_reduce(" << op << ")";
      show(what.str(), t, *want);
    }
  }

  // Step 5: scatter. The root (rank 0) holds one tensor per rank and rank i
  // receives the i-th, here [10i, 10i + 1]. Other ranks pass an empty list.
  {
    std::vector<baton::Tensor> pieces;
    if (rank == 0) {
      for (int i = 0; i < n; ++i) pieces.push_back(make({10.0 * i, 10.0 * i + 1}));
    }
    baton::Tensor t = make({-1, -1});
    baton::scatter(t, pieces, /*src=*/0);
    show("scatter from 0", t, {10.0 * rank, 10.0 * rank + 1});
  }

  // Step 6: gather, the reverse: the destination (the last rank) collects
  // every rank's tensor, here [r * r], in rank order.
  {
    const int dst = n - 1;
    std::vector<baton::Tensor> gathered;
    if (rank == dst) {
      for (int i = 0; i < n; ++i) gathered.push_back(make({-1}));
    }
    baton::gather(make({1.0 * rank * rank}), gathered, dst);
    if (rank == dst) {
      for (int i = 0; i < n; ++i) {
        show("gather to " + std::to_string(dst) + ", from rank " + std::to_string(i),
             gathered[static_cast<size_t>(i)], {1.0 * i * i});
      }
    }
  }

  // Step 7: all_gather: every rank collects every rank's tensor. Rank r
  // contributes [r + 1, 100], so everyone ends with [1, 100], [2, 100], ...
  {
    std::vector<baton::Tensor> outputs;
    for (int i = 0; i < n; ++i) outputs.push_back(make({-1, -1}));
    baton::all_gather(outputs, make({rank + 1.0, 100}));
    for (int i = 0; i < n; ++i) {
      show("all_gather, from rank " + std::to_string(i), outputs[static_cast<size_t>(i)],
           {i + 1.0, 100});
    }
  }

  // Step 8 (beyond the tutorial): reduce_scatter. Rank r offers inputs[i] =
  // [r + i] for every i; rank i receives the sum over r of (r + i), that is
  // n(n-1)/2 + n*i.
  {
    std::vector<baton::Tensor> inputs;
    for (int i = 0; i < n; ++i) inputs.push_back(make({1.0 * (rank + i)}));
    baton::Tensor t = make({-1});
    baton::reduce_scatter(t, inputs, baton::ReduceOp::SUM);
    show("reduce_scatter(SUM)", t, {n * (n - 1) / 2.0 + 1.0 * n * rank});
  }

  // Step 9 (beyond the tutorial): all_to_all, a transpose. Rank r sends
  // [10r + i] to rank i, so rank r ends with [10i + r] from each rank i.
  {
    std::vector<baton::Tensor> inputs, outputs;
    for (int i = 0; i < n; ++i) {
      inputs.push_back(make({10.0 * rank + i}));
      outputs.push_back(make({-1}));
    }
    baton::all_to_all(outputs, inputs);
    std::vector<double> want;
    baton::Tensor row = baton::Tensor::empty({n});
    for (int i = 0; i < n; ++i) {
      row.narrow(i, 1).copy_(outputs[static_cast<size_t>(i)]);
      want.push_back(10.0 * i + rank);
    }
    show("all_to_all", row, want);
  }

  // Step 10: barrier. No data moves; nobody leaves until everyone arrived.
  baton::barrier();
  std::printf("Rank %d passed the barrier\n", rank);
  std::fflush(stdout);

  // Step 11: leave the job; a wrong value anywhere fails the run.
  baton::destroy_process_group();
  return g_failures == 0 ? 0 : 1;
}
