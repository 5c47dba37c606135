// Invalid arguments: every check of the public API throws InvalidArgument
// with a message that says what was expected and what was given, before
// anything is sent (the operations that follow on every rank still agree);
// lifecycle misuse (no init, double init, unknown or absent backends).
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "baton/baton.hpp"
#include "baton/distributed.hpp"
#include "tests/backends/suite_support.hpp"
#include "tests/support/rank_runner.hpp"

namespace baton::testing {
namespace {

InitOptions options_for(const JobDir& dir, int rank, int n) {
  InitOptions options;
  options.init_method = dir.init_method();
  options.rank = rank;
  options.world_size = n;
  options.timeout = std::chrono::seconds(30);
  return options;
}

void expect_invalid(const std::function<void()>& fn, const std::string& expected) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected InvalidArgument \"" << expected << "\"";
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()), expected);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InvalidArgument \"" << expected << "\", got " << e.what();
  }
}

TEST(ChecksTest, WithoutInitEverythingSaysSo) {
  ASSERT_FALSE(is_initialized());
  expect_invalid([] { world(); },
                 "world: the process group is not initialized; call init_process_group() first");
  Tensor t = Tensor::ones({2});
  EXPECT_THROW(all_reduce(t), InvalidArgument);
  expect_invalid(
      [] { new_group({0}); },
      "new_group: the process group is not initialized; call init_process_group() first");
  expect_invalid([&] { all_reduce(t, ReduceOp::SUM, Group()); },
                 "all_reduce: the group handle refers to no group; use baton::world() or a group "
                 "from new_group()");
  destroy_process_group();  // harmless
}

TEST(ChecksTest, AbsentAndUnknownBackendsAreRefusedBeforeRendezvous) {
  JobDir dir;
  InitOptions options = options_for(dir, 0, 1);
#if BATON_TEST_WITH_MPI
  const std::string absent = "nccl", option = "BATON_WITH_NCCL";
#else
  const std::string absent = "mpi", option = "BATON_WITH_MPI";
#endif
  options.backend = absent;
  try {
    init_process_group(options);
    ADD_FAILURE() << absent << " accepted";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("backend '" + absent +
                                         "' is not built in; rebuild with -D" + option + "=ON"),
              std::string::npos)
        << e.what();
  }
  options.backend = "gloo";
  EXPECT_THROW(init_process_group(options), InvalidArgument);
  EXPECT_FALSE(is_initialized());
}

TEST(ChecksTest, InitTwiceIsAnError) {
  JobDir dir;
  run_ranks(1, [&](int rank, int n) {
    init_process_group(options_for(dir, rank, n));
    expect_invalid([&] { init_process_group(options_for(dir, rank, n)); },
                   "init_process_group: already initialized (rank 0 of 1); call "
                   "destroy_process_group() first");
    destroy_process_group();
  });
}

TEST(ChecksTest, EveryArgumentIsCheckedBeforeAnythingIsSent) {
  JobDir dir;
  run_ranks(3, [&](int rank, int n) {
    init_process_group(options_for(dir, rank, n));
    Tensor t = Tensor::ones({4});
    Tensor undefined;
    Tensor on_gpu = Tensor::from_blob(t.data_ptr(), {4}, DType::Float32, Device::cuda(0));
    auto list = [&](int count, int64_t numel, DType dtype = DType::Float32) {
      std::vector<Tensor> out;
      for (int i = 0; i < count; ++i) out.push_back(Tensor::zeros({numel}, dtype));
      return out;
    };

    // Ranks.
    expect_invalid([&] { reduce(t, 5, ReduceOp::SUM); },
                   "reduce: dst 5 is not a rank of a group of 3");
    expect_invalid([&] { broadcast(t, -1); }, "broadcast: src -1 is not a rank of a group of 3");
    expect_invalid([&] { send(t, 3); }, "send: dst 3 is not a rank of a group of 3");
    expect_invalid([&] { isend(t, rank); },
                   "isend: dst " + std::to_string(rank) +
                       " is this process's own rank; a rank cannot send to or receive from itself");
    expect_invalid([&] { recv(t, 7); }, "recv: src 7 is not a rank of a group of 3");
    expect_invalid([&] { irecv(t, -2); }, "irecv: src -2 is not a rank of a group of 3");
    {
      auto g = list(3, 4);
      expect_invalid([&] { gather(t, g, 3); }, "gather: dst 3 is not a rank of a group of 3");
    }
    expect_invalid([&] { scatter(t, {}, 9); }, "scatter: src 9 is not a rank of a group of 3");

    // Tensors: undefined, on the wrong device.
    expect_invalid([&] { all_reduce(undefined); },
                   "all_reduce: tensor is undefined (a default-constructed Tensor)");
    expect_invalid([&] { send(undefined, (rank + 1) % n); },
                   "send: tensor is undefined (a default-constructed Tensor)");
    expect_invalid([&] { all_reduce(on_gpu); },
                   "all_reduce: tensor is on cuda:0; the native backend works on cpu tensors");
    expect_invalid(
        [&] {
          barrier();
          all_reduce(on_gpu, ReduceOp::MAX, world(), async_op);
        },
        "all_reduce: tensor is on cuda:0; the native backend works on cpu tensors");

    // Reduce ops the dtype does not have.
    expect_invalid([&] { all_reduce(t, ReduceOp::BAND); },
                   "all_reduce: BAND is not defined for float32 tensors");
    {
      auto in = list(3, 4);
      expect_invalid([&] { reduce_scatter(t, in, ReduceOp::BXOR); },
                     "reduce_scatter: BXOR is not defined for float32 tensors");
    }

    // Lists: length, numel, dtype, device.
    {
      auto out = list(2, 4);
      expect_invalid([&] { all_gather(out, t); },
                     "all_gather: outputs has 2 tensors; expected 3, one per rank of the group");
    }
    {
      auto out = list(3, 4);
      out[2] = Tensor::zeros({5});
      expect_invalid([&] { all_gather(out, t); },
                     "all_gather: outputs[2] holds 5 float32 elements; expected 4 float32 "
                     "elements, like input");
    }
    {
      auto out = list(3, 4);
      out[1] = Tensor::zeros({4}, DType::Int32);
      expect_invalid(
          [&] { all_gather(out, t); },
          "all_gather: outputs[1] holds 4 int32 elements; expected 4 float32 elements, like input");
    }
    {
      auto out = list(3, 4);
      out[0] = on_gpu;
      expect_invalid(
          [&] { all_gather(out, t); },
          "all_gather: outputs[0] is on cuda:0; the native backend works on cpu tensors");
    }
    if (rank == 0) {
      auto g = list(4, 4);
      expect_invalid([&] { gather(t, g, 0); },
                     "gather: gather_list has 4 tensors; expected 3, one per rank of the group");
      auto s = list(3, 1);
      expect_invalid([&] { scatter(t, s, 0); },
                     "scatter: scatter_list[0] holds 1 float32 element; expected 4 float32 "
                     "elements, like output");
    }
    {
      auto in = list(3, 3);
      expect_invalid([&] { reduce_scatter(t, in); },
                     "reduce_scatter: inputs[0] holds 3 float32 elements; expected 4 float32 "
                     "elements, like output");
    }
    {
      auto in = list(3, 4), out = list(1, 4);
      expect_invalid([&] { all_to_all(out, in); },
                     "all_to_all: outputs has 1 tensor; expected 3, one per rank of the group");
    }
    {
      auto in = list(3, 4), out = list(3, 4);
      out[1] = Tensor::zeros({4}, DType::Float64);
      expect_invalid([&] { all_to_all(out, in); },
                     "all_to_all: outputs[1] is float64; expected float32, like inputs[0]");
    }
    {
      auto in = list(3, 4), out = list(3, 4);
      out[static_cast<size_t>(rank)] = Tensor::zeros({2});
      expect_invalid([&] { all_to_all(out, in); }, "all_to_all: outputs[" + std::to_string(rank) +
                                                       "] holds 2 float32 elements; expected 4 "
                                                       "float32 elements, like inputs[" +
                                                       std::to_string(rank) +
                                                       "] (this rank's message to itself)");
    }

    // Groups: bad lists, non-members.
    expect_invalid(
        [&] {
          new_group({0, 3});
        },
        "new_group: rank 3 is not a rank of the world (a world of 3); ranks given: [0, 3]");
    expect_invalid([&] { new_group({1, 0, 1}); }, "new_group: rank 1 appears twice in [1, 0, 1]");
    Group pair = new_group({2, 0});
    if (rank == 1) {
      EXPECT_FALSE(pair.is_member());
      expect_invalid([&] { barrier(pair); },
                     "barrier: this process is not a member of group 1 (world ranks 2, 0)");
    } else {
      expect_invalid([&] { send(t, 2, pair); },
                     "send: dst 2 is not a rank of a group of 2 (group 1)");
    }

    // Nothing was sent and no operation number was used: the ranks still agree.
    Tensor sum = Tensor::full({4}, rank + 1);
    all_reduce(sum);
    expect_tensor(
        sum, [](int64_t) { return 6.0; }, "all_reduce after the rejected calls");
    if (pair.is_member()) {
      Tensor p = Tensor::full({2}, rank);
      all_reduce(p, ReduceOp::SUM, pair);
      expect_tensor(
          p, [](int64_t) { return 2.0; }, "the pair's all_reduce");
    }
    destroy_process_group();
  });
}

}  // namespace
}  // namespace baton::testing
