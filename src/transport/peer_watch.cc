// PeerWatch: pidfds of this host's peers; see peer_watch.hpp.
#include "transport/peer_watch.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "baton/error.hpp"

namespace baton::transport {
namespace {

int pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

}  // namespace

PeerWatch::PeerWatch(std::vector<pid_t> pids, int self)
    : pids_(std::move(pids)), pidfds_(pids_.size()), gone_at_open_(pids_.size(), false) {
  for (size_t r = 0; r < pids_.size(); ++r) {
    if (static_cast<int>(r) == self || pids_[r] <= 0) continue;
    const int fd = pidfd_open(pids_[r]);
    if (fd >= 0) {
      pidfds_[r] = UniqueFd(fd);
    } else if (errno == ESRCH) {
      gone_at_open_[r] = true;
    }
  }
}

pid_t PeerWatch::pid(int rank) const {
  if (rank < 0 || static_cast<size_t>(rank) >= pids_.size()) return 0;
  return pids_[static_cast<size_t>(rank)];
}

bool PeerWatch::exited(int rank) const {
  if (pid(rank) <= 0) return false;
  const auto r = static_cast<size_t>(rank);
  if (gone_at_open_[r]) return true;
  if (pidfds_[r].valid()) {
    // A pidfd polls readable once its process has exited.
    pollfd fd{pidfds_[r].get(), POLLIN, 0};
    return ::poll(&fd, 1, 0) > 0;
  }
  // No pidfd (an old kernel): a vanished pid is as good, though a reused one fools it.
  return ::kill(pids_[r], 0) != 0 && errno == ESRCH;
}

std::optional<int> PeerWatch::first_dead(std::span<const int> ranks) const {
  for (int r : ranks) {
    if (exited(r)) return r;
  }
  return std::nullopt;
}

void PeerWatch::check(std::span<const int> ranks, const std::string& who,
                      const std::string& what) const {
  if (auto dead = first_dead(ranks)) {
    throw ConnectionError(who + ": rank " + std::to_string(*dead) + " (pid " +
                          std::to_string(pid(*dead)) + ") exited during " + what);
  }
}

std::vector<int> wait_keys(Store& store, const std::vector<std::string>& keys,
                           const std::vector<int>& owners, const PeerWatch& watch,
                           const std::string& who, const std::string& what,
                           std::chrono::steady_clock::time_point deadline) {
  using Clock = std::chrono::steady_clock;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    try {
      store.wait(keys, std::clamp(left, std::chrono::milliseconds(0), kSetupLivenessSlice));
      return {};
    } catch (const TimeoutError&) {
    }
    std::vector<int> missing, absent;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!store.check(std::span<const std::string>(&keys[i], 1))) {
        missing.push_back(static_cast<int>(i));
        absent.push_back(owners[i]);
      }
    }
    if (missing.empty()) return {};
    watch.check(absent, who, what);
    if (Clock::now() >= deadline) return missing;
  }
}

}  // namespace baton::transport
