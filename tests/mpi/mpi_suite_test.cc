// The backend conformance suite on the mpi backend, run under mpirun.
//
// ctest starts this binary with `mpirun -n N` (N = 1, 2, 3, 4; see
// CMakeLists.txt). Every rank runs every test; each test initialises the
// process group with backend "mpi" and nothing else (rank and world size
// come from MPI, no MASTER_ADDR, no store), runs one body of the shared
// suite (tests/backends/suite_bodies.hpp) on (get_rank(), get_world_size()),
// and destroys the group. The last tests check what is particular to the
// mpi backend: its rank agrees with mpirun's, the errors it turns MPI's into,
// and its refusals. A test that does not apply to the world size skips
// itself on every rank alike, so the ranks stay in step.
//
// Thread safety: GoogleTest's main thread, one per rank.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "backends/mpi/runtime.hpp"
#include "baton/baton.hpp"
#include "baton/distributed.hpp"
#include "tests/backends/suite_bodies.hpp"
#include "tests/backends/suite_support.hpp"

namespace baton::testing {
namespace {

InitOptions mpi_options() {
  InitOptions options;
  options.backend = "mpi";
  options.timeout = std::chrono::seconds(60);
  return options;
}

// Runs body(rank, n) between init_process_group and destroy_process_group.
void run_mpi(void (*body)(int, int)) {
  init_process_group(mpi_options());
  body(get_rank(), get_world_size());
  barrier();  // a failing rank's early return shows as a failure, not a skew
  destroy_process_group();
}

// The world size, without initialising a process group.
int mpi_size() {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  return size ? std::atoi(size) : 1;
}

TEST(MpiSuite, EveryCollectiveSmallCounts) {
  run_mpi(every_collective_small_counts);
}

TEST(MpiSuite, EveryCollectiveLargeCount) {
  run_mpi(every_collective_large_count);
}

TEST(MpiSuite, EveryDTypeAndReduceOp) {
  if (mpi_size() < 2) GTEST_SKIP() << "needs two ranks";
  run_mpi([](int rank, int n) { every_dtype_and_reduce_op(rank, n, "auto"); });
}

TEST(MpiSuite, PointToPoint) {
  if (mpi_size() < 2) GTEST_SKIP() << "needs two ranks";
  run_mpi(point_to_point);
}

TEST(MpiSuite, NewGroupIsolation) {
  if (mpi_size() < 3) GTEST_SKIP() << "needs three ranks";
  run_mpi(new_group_isolation);
}

TEST(MpiSuite, ConcurrentGroupsFromTwoThreads) {
  if (mpi_size() < 2) GTEST_SKIP() << "needs two ranks";
  run_mpi(concurrent_groups_from_two_threads);
}

TEST(MpiSuite, DestroyThenReinit) {
  destroy_then_reinit(backends::mpi::Runtime::get().world_rank(), mpi_size(), mpi_options);
}

// Rank and size come from MPI, as mpirun numbered the processes.
TEST(MpiBackend, RankAndSizeFromMpirun) {
  init_process_group(mpi_options());
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  ASSERT_NE(rank, nullptr) << "not started by OpenMPI's mpirun";
  EXPECT_EQ(get_rank(), std::atoi(rank));
  EXPECT_EQ(get_world_size(), mpi_size());
  EXPECT_EQ(world().backend(), "mpi");
  destroy_process_group();
}

// BATON_BACKEND=mpi turns backend "auto" into mpi (how the examples run).
TEST(MpiBackend, AutoFollowsBatonBackend) {
  ::setenv("BATON_BACKEND", "mpi", 1);
  init_process_group();
  ::unsetenv("BATON_BACKEND");
  EXPECT_EQ(world().backend(), "mpi");
  Tensor t = Tensor::full({2}, 1, DType::Int32);
  all_reduce(t);
  expect_tensor(
      t, [](int64_t) { return mpi_size(); }, "all_reduce after BATON_BACKEND=mpi");
  destroy_process_group();
}

// InitOptions that contradict MPI are refused with both sides named.
TEST(MpiBackend, ContradictingRankIsRefused) {
  InitOptions options = mpi_options();
  options.world_size = mpi_size() + 1;
  try {
    init_process_group(options);
    ADD_FAILURE() << "a world size MPI does not have was accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("mpi backend gives rank"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(is_initialized());
}

// A CUDA tensor is refused, naming the backend and the operation.
TEST(MpiBackend, CudaTensorIsInvalidArgument) {
  init_process_group(mpi_options());
  float host[4] = {};
  Tensor t = Tensor::from_blob(host, {4}, DType::Float32, Device::cuda(0));
  try {
    all_reduce(t);
    ADD_FAILURE() << "a cuda tensor was accepted";
  } catch (const InvalidArgument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("all_reduce"), std::string::npos) << what;
    EXPECT_NE(what.find("mpi"), std::string::npos) << what;
  }
  destroy_process_group();
}

// MPI's own errors come back as baton::Error with MPI's text: a message
// longer than the posted receive is MPI_ERR_TRUNCATE, a shorter one is
// caught by the backend; both are MismatchError on the receiver.
TEST(MpiBackend, MessageSizeMismatchIsMismatchError) {
  if (mpi_size() < 2) GTEST_SKIP() << "needs two ranks";
  init_process_group(mpi_options());
  if (get_rank() == 0) {
    send(Tensor::full({8}, 1, DType::Int32), 1, world(), 21);
    send(Tensor::full({2}, 1, DType::Int32), 1, world(), 22);
  } else if (get_rank() == 1) {
    Tensor small = Tensor::zeros({4}, DType::Int32);
    try {
      recv(small, 0, world(), 21);
      ADD_FAILURE() << "a truncated receive succeeded";
    } catch (const MismatchError& e) {
      EXPECT_NE(std::string(e.what()).find("MPI error"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("recv"), std::string::npos) << e.what();
    }
    try {
      recv(small, 0, world(), 22);
      ADD_FAILURE() << "a short message filled a larger receive";
    } catch (const MismatchError& e) {
      EXPECT_NE(std::string(e.what()).find("expected 16 bytes"), std::string::npos) << e.what();
    }
  }
  barrier();
  destroy_process_group();
}

// A collective whose ranks disagree about the count: MPI truncates, and the
// rank that got too much says so, naming itself and what it passed.
TEST(MpiBackend, CountMismatchInACollectiveNamesTheRankAndItsCount) {
  if (mpi_size() < 2) GTEST_SKIP() << "needs two ranks";
  init_process_group(mpi_options());
  if (get_rank() <= 1) {
    const Group pair = new_group({0, 1});
    Tensor t = Tensor::full({get_rank() == 0 ? 8 : 4}, 1, DType::Int32);
    if (get_rank() == 0) {
      broadcast(t, 0, pair);
    } else {
      try {
        broadcast(t, 0, pair);
        ADD_FAILURE() << "a truncated broadcast succeeded";
      } catch (const MismatchError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("rank 1"), std::string::npos) << what;
        EXPECT_NE(what.find("int32, 4 elements, root 0"), std::string::npos) << what;
        EXPECT_NE(what.find("disagree"), std::string::npos) << what;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "expected MismatchError, got: " << e.what();
      }
    }
  } else {
    new_group({0, 1});
  }
  destroy_process_group();
}

// The conversion itself: error classes map onto baton::Error subclasses.
TEST(MpiBackend, ErrorCodesBecomeBatonErrors) {
  backends::mpi::Runtime::get();
  EXPECT_THROW(backends::mpi::check(MPI_ERR_RANK, "send"), InvalidArgument);
  EXPECT_THROW(backends::mpi::check(MPI_ERR_TRUNCATE, "recv"), MismatchError);
  EXPECT_THROW(backends::mpi::check(MPI_ERR_OTHER, "barrier"), ConnectionError);
  EXPECT_NO_THROW(backends::mpi::check(MPI_SUCCESS, "barrier"));
  try {
    backends::mpi::check(MPI_ERR_RANK, "send #1 on group world");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("send #1 on group world: MPI error: "), std::string::npos)
        << e.what();
  }
}

// A member list that differs between members is a MismatchError.
TEST(MpiBackend, NewGroupListsMustAgree) {
  if (mpi_size() < 2) GTEST_SKIP() << "needs two ranks";
  init_process_group(mpi_options());
  std::vector<int> ranks = {0, 1};
  if (get_rank() == 1) ranks = {1, 0};
  if (get_rank() <= 1) {
    EXPECT_THROW(new_group(ranks), MismatchError);
  } else {
    new_group(ranks);
  }
  barrier();
  destroy_process_group();
}

// Last: leave the process group initialised. The process must still exit
// at once and cleanly (MPI finalised at exit, the world's backend destroyed
// by a static destructor after the engine stopped); ctest's timeout and
// mpirun's exit status check it.
TEST(MpiBackend, ZzExitWithoutDestroy) {
  init_process_group(mpi_options());
  Tensor t = Tensor::full({3}, 2, DType::Float64);
  all_reduce(t, ReduceOp::PRODUCT);
  expect_tensor(
      t, [](int64_t) { return static_cast<double>(1 << mpi_size()); }, "product");
}

}  // namespace
}  // namespace baton::testing
