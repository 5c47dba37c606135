// PeerWatch: is a rank of this host still running? For transport setup,
// where a peer that died would otherwise leave the others waiting for the
// whole timeout.
//
// The rendezvous exchanged every rank's pid; for the ranks of this host (the
// only ones whose pids mean anything here) the watch opens a pidfd, which
// refers to that very process even if its pid is reused later. A rank whose
// pid is unknown (0: another host, or no rendezvous table) is never judged
// dead here; the transports detect those by their connections. Ranks of one
// host share a pid namespace, as the shared-memory transport assumes.
//
// Thread safety: const methods may be called from any thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "baton/store.hpp"
#include "core/fd.hpp"

namespace baton::transport {

class PeerWatch {
 public:
  PeerWatch() = default;
  // pids[r]: the pid of group rank r where it runs on this host, else 0.
  explicit PeerWatch(std::vector<pid_t> pids, int self);

  // Whether `rank` (a known pid) has exited. Never blocks.
  bool exited(int rank) const;
  // The first of `ranks` that has exited, if any. Never blocks.
  std::optional<int> first_dead(std::span<const int> ranks) const;
  // Throws ConnectionError "<who>: rank R (pid P) exited during <what>" when
  // one of `ranks` has exited.
  void check(std::span<const int> ranks, const std::string& who, const std::string& what) const;
  // The pid of `rank`, 0 when unknown.
  pid_t pid(int rank) const;

 private:
  std::vector<pid_t> pids_;
  std::vector<UniqueFd> pidfds_;    // by rank; invalid where the pid is unknown
  std::vector<bool> gone_at_open_;  // the pid had already exited when the watch began
};

// How often a setup wait looks whether the ranks it waits for still run.
inline constexpr std::chrono::milliseconds kSetupLivenessSlice{50};

// Waits for every store key (keys[i] is written by group rank owners[i]) in
// slices of kSetupLivenessSlice; returns the indices of the keys still missing at the
// deadline. Throws ConnectionError (PeerWatch::check, naming `who` and
// `what`) as soon as the owner of a missing key has exited. Setup waits of
// every transport use it.
std::vector<int> wait_keys(Store& store, const std::vector<std::string>& keys,
                           const std::vector<int>& owners, const PeerWatch& watch,
                           const std::string& who, const std::string& what,
                           std::chrono::steady_clock::time_point deadline);

}  // namespace baton::transport
