// Dispatch: the collective entry points a backend calls. Each chooses an
// algorithm (select.hpp) from the buffer sizes and the group, runs it with
// the group's Settings (comm.settings()), and returns which algorithm ran (for logs and
// baton-bench).
//
// Arguments, blocking, timeouts and errors are those of the algorithm
// functions in algorithms.hpp: each blocks until this rank's part of the
// collective is done or the Comm's deadline passes (TimeoutError naming the
// ranks still missing), and on any failure aborts the group's context before
// rethrowing.
//
// Thread safety: as algorithms.hpp (one call owns its Comm).
#pragma once

#include "collectives/algorithms.hpp"
#include "collectives/select.hpp"

namespace baton::collectives {

Algorithm run_all_reduce(Comm& comm, Bytes data, DType dtype, ReduceOp op);
Algorithm run_broadcast(Comm& comm, Bytes data, int root);
Algorithm run_reduce(Comm& comm, Bytes data, DType dtype, ReduceOp op, int root);
Algorithm run_all_gather(Comm& comm, ConstBytes input, std::span<const Bytes> outputs);
Algorithm run_gather(Comm& comm, ConstBytes input, std::span<const Bytes> outputs, int root);
Algorithm run_scatter(Comm& comm, std::span<const ConstBytes> inputs, Bytes output, int root);
Algorithm run_reduce_scatter(Comm& comm, std::span<const ConstBytes> inputs, Bytes output,
                             DType dtype, ReduceOp op);
Algorithm run_all_to_all(Comm& comm, std::span<const ConstBytes> inputs,
                         std::span<const Bytes> outputs);
Algorithm run_barrier(Comm& comm);

}  // namespace baton::collectives
