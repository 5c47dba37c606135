// Group: a set of ranks that communicate together, like a torch ProcessGroup.
//
// world() is every rank of the job; new_group(ranks) makes a subgroup and
// must be called by every rank of the world with the same list, in the same
// order relative to other new_group calls (as in torch). Ranks passed to
// operations on a group are group ranks. A rank that is not in the list gets
// a Group for which is_member() is false; using it in an operation is an
// InvalidArgument. Each group has its own connections and its own operation
// order, so traffic of different groups never mixes and operations on
// different groups may run at the same time from different threads.
//
// Thread safety: Group handles are immutable and may be shared by threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace baton {

namespace detail {
class GroupState;
}

class Group {
 public:
  // A handle that refers to no group (is_member() false).
  Group() = default;
  explicit Group(std::shared_ptr<detail::GroupState> state);

  bool is_member() const;
  // This process's rank in the group; -1 when not a member.
  int rank() const;
  int size() const;
  // The world ranks of the group's members, in group-rank order.
  const std::vector<int>& world_ranks() const;
  // The backend that runs the group's operations ("native", "mpi", "nccl").
  std::string backend() const;
  // What reaches each member, by group rank: "self" for this process, "shm"
  // (shared memory, same host), "tcp", or the backend's name for backends
  // that do not say (e.g. "mpi"). Empty when not a member or after the group
  // was destroyed. Does not block; throws nothing.
  std::vector<std::string> transports() const;

  detail::GroupState* state() const { return state_.get(); }

 private:
  std::shared_ptr<detail::GroupState> state_;
};

}  // namespace baton
