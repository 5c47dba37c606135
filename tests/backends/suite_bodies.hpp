// The backend conformance suite's test bodies, shared by every way of
// starting ranks: backend_suite.cc runs them on forked ranks (one
// instantiation per backend), tests/mpi/ runs them on ranks started by
// mpirun. Each body runs on every rank of an initialised process group of
// n ranks, uses only the public API, and checks its results with exact
// expectations (suite_support.hpp), reporting failures through GoogleTest.
//
// Thread safety: each body is called once per rank, from the rank's test
// thread.
#pragma once

#include <functional>
#include <string>

#include "baton/distributed.hpp"

namespace baton::testing {

// Every collective at 0, 1, 3 and 1000 elements, blocking and async.
void every_collective_small_counts(int rank, int n);
// Every collective on 1 Mi + 3 elements (async at n == 3).
void every_collective_large_count(int rank, int n);
// Every dtype x every reduce op it supports, for all_reduce; algo names the
// all_reduce algorithm the group was set up with (BATON_ALGO_ALL_REDUCE,
// read at setup), for the messages. Under "auto" (shared_memory on one host,
// hierarchical across hosts) also reduce and reduce_scatter on every op, and
// broadcast, all_gather, all_to_all on every dtype. Needs n >= 2.
void every_dtype_and_reduce_op(int rank, int n, const std::string& algo);
// send/recv/isend/irecv: a ring, tags out of order, non-overtaking,
// ANY_SOURCE with source_rank(), empty and large messages, messages longer
// and shorter than their receive (MismatchError). Needs n >= 2.
void point_to_point(int rank, int n);
// Subgroups: membership, group ranks in list order, world and group
// operations in flight at once, group p2p and broadcast. Needs n >= 3.
void new_group_isolation(int rank, int n);
// Collectives on two groups from two threads at once. Needs n >= 2.
void concurrent_groups_from_two_threads(int rank, int n);
// Twice: init_process_group(options()), use, destroy; the body initialises
// and destroys the process group itself.
void destroy_then_reinit(int rank, int n, const std::function<InitOptions()>& options);

}  // namespace baton::testing
