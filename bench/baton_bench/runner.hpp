// One baton-bench measurement: a collective at one size, timed over many
// iterations, then checked once against closed-form expectations.
//
// Timing follows nccl-tests: after a barrier each rank times its whole loop
// of `iters` operations; the reported time per iteration is the slowest
// rank's loop divided by `iters` (one all_reduce MAX at the end, so nothing
// is added inside the loop). send_recv is a ping-pong between ranks 0 and 1
// and reports one way (round trip / 2). After the timed loop, fresh
// deterministic inputs go through one more operation and every element of the
// result is compared with its expected value; the verdict is agreed by all
// ranks.
//
// Thread safety: call from one thread; every rank of the group must call
// run_point with the same arguments in the same order (it runs collectives).
#pragma once

#include <cstdint>
#include <string>

#include "baton/group.hpp"
#include "options.hpp"

namespace baton::bench {

struct PointResult {
  BenchOp op = BenchOp::kAllReduce;
  uint64_t bytes = 0;  // as nccl-tests counts them: all_gather output, reduce_scatter input
  int64_t count = 0;   // elements per rank's tensor (all_gather: input, reduce_scatter: output)
  int iters = 0;
  double time_us = 0;     // per iteration (one way for send_recv), slowest rank
  double algbw_gbps = 0;  // bytes / time, in 1e9 bytes per second
  double busbw_gbps = 0;  // algbw * bus_factor
  bool ok = false;        // the correctness check passed on every rank
};

// nccl-tests' bus bandwidth factor for n ranks: all_reduce 2(n-1)/n,
// all_gather and reduce_scatter (n-1)/n, broadcast and send_recv 1.
double bus_factor(BenchOp op, int ranks);

// Whether op can run on this group (send_recv needs two ranks).
bool runnable(BenchOp op, const Group& group);

// Runs warm-up, the timed loop and the check of one point. Blocks for the
// whole measurement; each operation is bounded by the group's timeout.
// Throws what the collectives throw (ConnectionError, TimeoutError,
// MismatchError, InvalidArgument for a dtype the reduce op does not support).
// A failed check is not an exception: ok is false, and the first wrong
// element is printed on stderr with its rank, index, expected and actual value.
PointResult run_point(BenchOp op, uint64_t bytes, const BenchOptions& options,
                      const Group& group);

}  // namespace baton::bench
