// all_reduce, hierarchical (a group spanning hosts, some with several ranks):
// reduce inside each host, all_reduce between one leader per host, broadcast
// inside each host.
//
// Pattern: a host's leader is its lowest rank. (1) Each host reduces to its
// leader: shared_memory over the host's shared area (binomial tree over the
// host's messages where it has none). (2) The leaders all_reduce among
// themselves over tcp: recursive doubling or the ring, chosen by size as for
// a flat group. (3) Each leader broadcasts the result to its host, the same
// way as (1). AVG runs as SUM in every stage and divides once by the group's
// size at the end. Each stage is a Comm::subset of the group with its own
// step range, so no stage matches another's messages.
//
// Bytes per rank (n bytes, p ranks, h hosts): inside a host as reduce and
// broadcast over shared memory (copies only); between hosts only the leaders
// send, 2(h-1)/h * n each with the ring, instead of every rank sending
// 2(p-1)/p * n over a ring that crosses hosts.
// Determinism: each stage reduces in a fixed order and every leader ends
// with the same bits, which the broadcast copies, so every rank has them.
#include <algorithm>
#include <vector>

#include "collectives/algorithm_support.hpp"
#include "collectives/dispatch.hpp"
#include "collectives/select.hpp"

namespace baton::collectives {
namespace {

// Step ranges of the stages (Comm::subset): far apart from each other.
constexpr int64_t kInsideUp = 0;
constexpr int64_t kAcross = int64_t{1} << 40;
constexpr int64_t kInsideDown = int64_t{2} << 40;

}  // namespace

bool hierarchical_helps(std::span<const int> hosts) {
  if (hosts.size() < 3) return false;
  const int count = *std::max_element(hosts.begin(), hosts.end()) + 1;
  // Several hosts, and at least one of them with several ranks.
  return count > 1 && static_cast<size_t>(count) < hosts.size();
}

void all_reduce_hierarchical(Comm& comm, Bytes data, DType dtype, ReduceOp op) {
  const size_t count = detail::element_count(data.size(), dtype, comm);
  const std::span<const int> hosts = comm.hosts();
  if (hosts.size() != static_cast<size_t>(comm.size())) {
    throw Error(comm.describe() + ": hierarchical all_reduce needs the group's hosts");
  }
  const int me = comm.rank();
  std::vector<int> local;
  std::vector<int> leaders;
  std::vector<bool> led(hosts.size(), false);
  for (int r = 0; r < comm.size(); ++r) {
    const auto host = static_cast<size_t>(hosts[static_cast<size_t>(r)]);
    if (host == static_cast<size_t>(hosts[static_cast<size_t>(me)])) local.push_back(r);
    if (!led[host]) {
      led[host] = true;
      leaders.push_back(r);
    }
  }
  const ReduceOp partial = op == ReduceOp::AVG ? ReduceOp::SUM : op;
  const Tuning tuning = comm.settings().tuning;
  transport::SharedArea* area = comm.host_area();

  if (local.size() > 1) {
    Comm inside = comm.subset(local, area, kInsideUp);
    if (area != nullptr) {
      reduce_shared_memory(inside, data, dtype, partial, 0);
    } else {
      reduce_binomial_tree(inside, data, dtype, partial, 0, tuning);
    }
  }
  if (local.front() == me && leaders.size() > 1) {
    Comm across = comm.subset(leaders, nullptr, kAcross);
    const Algorithm a = select_algorithm(
        OpKind::kAllReduce,
        {.bytes = data.size(), .count = count, .world_size = static_cast<int>(leaders.size())});
    if (a == Algorithm::kRecursiveDoubling) {
      all_reduce_recursive_doubling(across, data, dtype, partial);
    } else {
      all_reduce_ring(across, data, dtype, partial, tuning);
    }
  }
  if (local.size() > 1) {
    Comm inside = comm.subset(local, area, kInsideDown);
    if (area != nullptr) {
      broadcast_shared_memory(inside, data, 0);
    } else {
      broadcast_binomial_tree(inside, data, 0, tuning);
    }
  }
  detail::finish_average(op, dtype, data.data(), count, comm.size());
}

}  // namespace baton::collectives
