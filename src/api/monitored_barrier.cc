// monitored_barrier: a barrier over the group's store that names who is missing.
//
// Keys, in the group's store namespace, for this rank's n-th call on the group
// (every rank counts its own calls; like collectives, the ranks must call it
// in the same order):
//   monitored_barrier/<n>/arrived/<r>  set by group rank r (r > 0) on arrival
//   monitored_barrier/<n>/release      set by rank 0 once every rank arrived
//   monitored_barrier/<n>/left         counter of released ranks; the last one
//                                      removes release and left
// Rank 0 removes the arrived keys it has seen. The store, not the group's
// connections, carries it, so a rank stuck in another operation of the
// group is still reported, by name.
#include <string>

#include "api/checks.hpp"
#include "api/group_state.hpp"
#include "baton/distributed.hpp"
#include "baton/error.hpp"
#include "baton/prefix_store.hpp"
#include "core/describe.hpp"

namespace baton {
namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds left_until(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

// Waits for `key` until the deadline; false when it did not appear.
bool appears(Store& store, const std::string& key, Clock::time_point deadline) {
  const std::string keys[] = {key};
  if (Clock::now() >= deadline) return store.check(keys);
  try {
    store.wait(keys, left_until(deadline));
    return true;
  } catch (const TimeoutError&) {
    return false;
  }
}

std::string world_ranks_of(const Group& group, const std::vector<int>& ranks) {
  std::string out;
  for (size_t i = 0; i < ranks.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(group.world_ranks()[static_cast<size_t>(ranks[i])]);
  }
  return out;
}

}  // namespace

void monitored_barrier(const Group& group, std::chrono::milliseconds timeout, bool wait_all_ranks) {
  constexpr std::string_view kOp = "monitored_barrier";
  auto backend = api::check_group(kOp, group);
  auto* state = group.state();
  if (backend->name() == "mpi" || !state->store()) {
    throw UnsupportedError("monitored_barrier: the " + backend->name() +
                           " backend has no store shared by the group's ranks; use barrier()");
  }
  if (timeout.count() < 0) {
    throw InvalidArgument("monitored_barrier: timeout " + std::to_string(timeout.count()) +
                          " ms is negative (0 means the group's timeout)");
  }
  if (timeout.count() == 0) timeout = state->timeout();
  const auto deadline = Clock::now() + timeout;
  const uint64_t n = state->next_monitored_barrier();
  const std::string what = "monitored_barrier #" + std::to_string(n) + " on " + state->name();
  PrefixStore store("monitored_barrier/" + std::to_string(n), state->store());
  const int rank = group.rank();
  const int size = group.size();

  if (rank != 0) {
    store.set("arrived/" + std::to_string(rank), std::string_view("1"));
    if (!appears(store, "release", deadline)) {
      throw TimeoutError(what + ": rank " + std::to_string(rank) +
                         " arrived but rank 0 (world rank " +
                         std::to_string(group.world_ranks()[0]) + ") did not release it within " +
                         describe_duration(timeout) +
                         " (rank 0 reports the ranks that did not arrive)");
    }
    if (store.add("left", 1) == size - 1) {
      store.delete_key("release");
      store.delete_key("left");
    }
    return;
  }

  std::vector<int> missing;
  for (int r = 1; r < size; ++r) {
    const std::string key = "arrived/" + std::to_string(r);
    // After the first missing rank, the others get no more time: only a
    // check of whether they have arrived by now.
    if (appears(store, key, missing.empty() ? deadline : Clock::now())) {
      store.delete_key(key);
      continue;
    }
    missing.push_back(r);
    if (!wait_all_ranks) break;
  }
  if (!missing.empty()) {
    throw TimeoutError(what + ": " + describe_ranks(missing, size) + " (world " +
                       (missing.size() == 1 ? "rank " : "ranks ") + world_ranks_of(group, missing) +
                       ") did not arrive within " + describe_duration(timeout));
  }
  if (size > 1) store.set("release", std::string_view("1"));
}

}  // namespace baton
