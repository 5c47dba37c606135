// GroupState: what a baton::Group handle refers to.
//
// One per group per process: its name, its members (world ranks in group-rank
// order), this process's group rank (-1 when not a member), its timeout and
// its backend. destroy_process_group() detaches the backend (shutting it
// down); handles that outlive it then refer to a destroyed group, and
// operations on them are an InvalidArgument.
//
// Thread safety: every method may be called from any thread; backend() and
// detach_backend() synchronise on an internal mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/backend.hpp"
#include "baton/store.hpp"

namespace baton::detail {

class GroupState {
 public:
  // rank is -1 and backend null for a process that is not a member.
  // store: the group's own namespace in the job's store (null for
  // non-members); monitored_barrier meets there.
  GroupState(std::string name, std::vector<int> world_ranks, int rank,
             std::chrono::milliseconds timeout, std::string backend_name,
             std::shared_ptr<backends::Backend> backend, std::shared_ptr<Store> store);

  // "world", "group 1".
  const std::string& name() const { return name_; }
  const std::vector<int>& world_ranks() const { return world_ranks_; }
  int rank() const { return rank_; }
  int size() const { return static_cast<int>(world_ranks_.size()); }
  bool is_member() const { return rank_ >= 0; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  const std::shared_ptr<Store>& store() const { return store_; }
  // Counts this rank's monitored_barrier calls on the group (1, 2, ...).
  uint64_t next_monitored_barrier() { return ++monitored_barriers_; }
  const std::string& backend_name() const { return backend_name_; }

  // The backend, or null once destroyed (and always for non-members).
  std::shared_ptr<backends::Backend> backend() const;
  // Whether destroy_process_group() has detached this group.
  bool destroyed() const;
  // Detaches the backend and returns it (for the caller to shut down).
  std::shared_ptr<backends::Backend> detach_backend();
  // Detaches the backend and shuts it down (waits for its pending
  // operations); a failure is logged. Idempotent.
  void shutdown();

 private:
  const std::string name_;
  const std::vector<int> world_ranks_;
  const int rank_;
  const std::chrono::milliseconds timeout_;
  const std::string backend_name_;
  const std::shared_ptr<Store> store_;
  std::atomic<uint64_t> monitored_barriers_{0};

  mutable std::mutex mu_;
  std::shared_ptr<backends::Backend> backend_;  // GUARDED_BY(mu_)
  bool destroyed_ = false;                      // GUARDED_BY(mu_)
};

}  // namespace baton::detail
