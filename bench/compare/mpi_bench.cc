// mpi_bench: OpenMPI's collectives measured the way baton-bench measures
// Baton's (compare_common.hpp), for bench/compare.sh.
//
//   mpirun -np 2 ./mpi_bench --transport shm --ops all_reduce,send_recv --sizes 8,1M --header
//
// all_reduce: MPI_Allreduce(MPI_IN_PLACE, float, MPI_SUM); broadcast:
// MPI_Bcast from rank 0; all_gather: MPI_Allgather; send_recv: a ping-pong
// of MPI_Send/MPI_Recv between ranks 0 and 1 (time one way). Which BTL
// carries the bytes is mpirun's choice (--mca btl ...); --transport only
// labels the rows. Rank 0 prints CSV rows; exit status 1 when a result check
// fails, 2 on a bad command line.
#include <mpi.h>

#include <cstdio>
#include <exception>
#include <vector>

#include "compare_common.hpp"

namespace {

using compare::Op;

struct Point {
  uint64_t bytes = 0;
  double seconds = 0;  // this rank, per iteration
  bool ok = true;
};

// warmup untimed runs, a barrier, then iters timed runs.
template <class Body>
double time_loop(int warmup, int iters, Body body) {
  for (int i = 0; i < warmup; ++i) body();
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  for (int i = 0; i < iters; ++i) body();
  return (MPI_Wtime() - start) / iters;
}

Point run(Op op, uint64_t bytes, int warmup, int iters, int rank, int ranks) {
  Point p;
  const size_t count = std::max<size_t>(1, bytes / sizeof(float));
  const int n = static_cast<int>(count);
  p.bytes = count * sizeof(float);
  std::vector<float> data(count);
  compare::fill(data, rank);
  switch (op) {
    case Op::kAllReduce: {
      auto body = [&] {
        MPI_Allreduce(MPI_IN_PLACE, data.data(), n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      };
      p.seconds = time_loop(warmup, iters, body);
      compare::fill(data, rank);
      body();
      p.ok = compare::check(
          data, [&](size_t i) { return compare::summed_value(ranks, i); }, "all_reduce", rank);
      break;
    }
    case Op::kBroadcast: {
      auto body = [&] { MPI_Bcast(data.data(), n, MPI_FLOAT, 0, MPI_COMM_WORLD); };
      p.seconds = time_loop(warmup, iters, body);
      compare::fill(data, rank);
      body();
      p.ok = compare::check(
          data, [](size_t i) { return compare::input_value(0, i); }, "broadcast", rank);
      break;
    }
    case Op::kAllGather: {
      const size_t per_rank = std::max<size_t>(1, count / static_cast<size_t>(ranks));
      p.bytes = per_rank * sizeof(float) * static_cast<size_t>(ranks);
      std::vector<float> input(per_rank);
      compare::fill(input, rank);
      std::vector<float> output(per_rank * static_cast<size_t>(ranks));
      auto body = [&] {
        MPI_Allgather(input.data(), static_cast<int>(per_rank), MPI_FLOAT, output.data(),
                      static_cast<int>(per_rank), MPI_FLOAT, MPI_COMM_WORLD);
      };
      p.seconds = time_loop(warmup, iters, body);
      std::fill(output.begin(), output.end(), 0.0f);
      body();
      p.ok = compare::check(
          output,
          [&](size_t i) { return compare::input_value(static_cast<int>(i / per_rank), i % per_rank); },
          "all_gather", rank);
      break;
    }
    case Op::kSendRecv: {
      auto body = [&] {
        if (rank == 0) {
          MPI_Send(data.data(), n, MPI_FLOAT, 1, 0, MPI_COMM_WORLD);
          MPI_Recv(data.data(), n, MPI_FLOAT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else if (rank == 1) {
          MPI_Recv(data.data(), n, MPI_FLOAT, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
          MPI_Send(data.data(), n, MPI_FLOAT, 0, 0, MPI_COMM_WORLD);
        }
      };
      p.seconds = time_loop(warmup, iters, body) / 2.0;  // one way
      compare::fill(data, 0);
      if (rank != 0) std::fill(data.begin(), data.end(), 0.0f);
      body();  // rank 0's values travel to rank 1 and back
      if (rank <= 1) {
        p.ok = compare::check(
            data, [](size_t i) { return compare::input_value(0, i); }, "send_recv", rank);
      }
      break;
    }
  }
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  int ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  compare::Options options;
  try {
    options = compare::parse_options(argc, argv, "openmpi", "shm");
  } catch (const std::exception& e) {
    if (rank == 0) std::fprintf(stderr, "mpi_bench: %s\n", e.what());
    MPI_Finalize();
    return 2;
  }
  if (rank == 0 && options.header) compare::print_header();
  bool all_ok = true;
  for (Op op : options.ops) {
    if (op == Op::kSendRecv && ranks < 2) continue;
    for (uint64_t size : options.sizes) {
      const int iters = options.iters > 0 ? options.iters : compare::iters_for(size);
      const Point p = run(op, size, compare::warmup_for(iters), iters, rank, ranks);
      double summary[2] = {p.seconds, p.ok ? 0.0 : 1.0};
      MPI_Allreduce(MPI_IN_PLACE, summary, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      all_ok = all_ok && summary[1] == 0.0;
      if (rank == 0) compare::print_row(options, op, ranks, p.bytes, iters, summary[0]);
    }
  }
  MPI_Finalize();
  return all_ok ? 0 : 1;
}
