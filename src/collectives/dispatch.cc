// Dispatch: choose an algorithm for each collective and run it.
#include "collectives/dispatch.hpp"

#include <string>

#include "baton/error.hpp"
#include "core/config.hpp"
#include "core/log.hpp"

namespace baton::collectives {
namespace {

Algorithm choose(Comm& comm, OpKind kind, size_t bytes, size_t count) {
  const bool shared = comm.shared_area() != nullptr;
  Algorithm algorithm = select_algorithm(
      kind,
      {.bytes = bytes,
       .count = count,
       .world_size = comm.size(),
       .shared_memory = shared,
       .hierarchical = !shared && kind == OpKind::kAllReduce && hierarchical_helps(comm.hosts())},
      comm.settings());
  // An algorithm forced (BATON_ALGO_*) where the group cannot run it
  // (shared_memory without a shared area, hierarchical without hosts to
  // group) gives way to the collective's message algorithm; every rank of
  // the group decides alike.
  if ((algorithm == Algorithm::kSharedMemory && !shared) ||
      (algorithm == Algorithm::kHierarchical && !hierarchical_helps(comm.hosts()))) {
    algorithm = algorithms_for(kind).front();
  }
  BATON_LOG_DEBUG(log::Subsys::kColl)
      << comm.describe() << " on rank " << comm.rank() << " of " << comm.size() << ": "
      << algorithm_name(algorithm) << ", " << bytes << " bytes";
  // Every message (and the shared area's headers) now carries the choice, so
  // ranks given different BATON_ALGO_* values fail with MismatchError.
  comm.begin(static_cast<uint8_t>(static_cast<uint8_t>(algorithm) + 1));
  return algorithm;
}

[[noreturn]] void unreachable(const Comm& comm, Algorithm algorithm) {
  throw Error(comm.describe() + ": no " + std::string(algorithm_name(algorithm)) +
              " implementation for this collective");
}

size_t elements(size_t bytes, DType dtype) {
  return bytes / element_size(dtype);
}

}  // namespace

Algorithm run_all_reduce(Comm& comm, Bytes data, DType dtype, ReduceOp op) {
  const Algorithm a = choose(comm, OpKind::kAllReduce, data.size(), elements(data.size(), dtype));
  switch (a) {
    case Algorithm::kRing: all_reduce_ring(comm, data, dtype, op, comm.settings().tuning); break;
    case Algorithm::kRecursiveDoubling: all_reduce_recursive_doubling(comm, data, dtype, op); break;
    case Algorithm::kHierarchical: all_reduce_hierarchical(comm, data, dtype, op); break;
    case Algorithm::kSharedMemory: all_reduce_shared_memory(comm, data, dtype, op); break;
    default: unreachable(comm, a);
  }
  return a;
}

Algorithm run_broadcast(Comm& comm, Bytes data, int root) {
  const Algorithm a = choose(comm, OpKind::kBroadcast, data.size(), data.size());
  if (a == Algorithm::kSharedMemory) {
    broadcast_shared_memory(comm, data, root);
  } else if (a == Algorithm::kBinomialTree) {
    broadcast_binomial_tree(comm, data, root, comm.settings().tuning);
  } else {
    unreachable(comm, a);
  }
  return a;
}

Algorithm run_reduce(Comm& comm, Bytes data, DType dtype, ReduceOp op, int root) {
  const Algorithm a = choose(comm, OpKind::kReduce, data.size(), elements(data.size(), dtype));
  if (a == Algorithm::kSharedMemory) {
    reduce_shared_memory(comm, data, dtype, op, root);
  } else if (a == Algorithm::kBinomialTree) {
    reduce_binomial_tree(comm, data, dtype, op, root, comm.settings().tuning);
  } else {
    unreachable(comm, a);
  }
  return a;
}

Algorithm run_all_gather(Comm& comm, ConstBytes input, std::span<const Bytes> outputs) {
  const Algorithm a = choose(comm, OpKind::kAllGather, input.size(), input.size());
  if (a == Algorithm::kSharedMemory) {
    all_gather_shared_memory(comm, input, outputs);
  } else if (a == Algorithm::kRing) {
    all_gather_ring(comm, input, outputs, comm.settings().tuning);
  } else {
    unreachable(comm, a);
  }
  return a;
}

Algorithm run_gather(Comm& comm, ConstBytes input, std::span<const Bytes> outputs, int root) {
  const Algorithm a = choose(comm, OpKind::kGather, input.size(), input.size());
  if (a != Algorithm::kDirect) unreachable(comm, a);
  gather_direct(comm, input, outputs, root);
  return a;
}

Algorithm run_scatter(Comm& comm, std::span<const ConstBytes> inputs, Bytes output, int root) {
  const Algorithm a = choose(comm, OpKind::kScatter, output.size(), output.size());
  if (a != Algorithm::kDirect) unreachable(comm, a);
  scatter_direct(comm, inputs, output, root);
  return a;
}

Algorithm run_reduce_scatter(Comm& comm, std::span<const ConstBytes> inputs, Bytes output,
                             DType dtype, ReduceOp op) {
  const Algorithm a =
      choose(comm, OpKind::kReduceScatter, output.size(), elements(output.size(), dtype));
  if (a == Algorithm::kSharedMemory) {
    reduce_scatter_shared_memory(comm, inputs, output, dtype, op);
  } else if (a == Algorithm::kRing) {
    reduce_scatter_ring(comm, inputs, output, dtype, op, comm.settings().tuning);
  } else {
    unreachable(comm, a);
  }
  return a;
}

Algorithm run_all_to_all(Comm& comm, std::span<const ConstBytes> inputs,
                         std::span<const Bytes> outputs) {
  size_t bytes = 0;
  for (const ConstBytes& in : inputs) bytes += in.size();
  const Algorithm a = choose(comm, OpKind::kAllToAll, bytes, bytes);
  if (a != Algorithm::kPairwise) unreachable(comm, a);
  all_to_all_pairwise(comm, inputs, outputs);
  return a;
}

Algorithm run_barrier(Comm& comm) {
  const Algorithm a = choose(comm, OpKind::kBarrier, 0, 0);
  if (a == Algorithm::kSharedMemory) {
    barrier_shared_memory(comm);
  } else if (a == Algorithm::kDissemination) {
    barrier_dissemination(comm);
  } else {
    unreachable(comm, a);
  }
  return a;
}

}  // namespace baton::collectives
