// join: every rank announces itself in the store and learns everyone else.
//
// Runs on any Store once it exists (TcpStore, FileStore, a caller's store).
// Each rank publishes a record (world size, HostIdentity, pid) and waits
// until all world_size ranks have done so; the last to arrive assembles the
// table of every rank's record, so each rank reads one key instead of N.
//
// Keys (P = "baton/rdzv/<job id>/", job id from BATON_JOB_ID, "-" when unset;
// g = this rendezvous' round, 1 for the first one on a store):
//   P round/<r>        counter: rendezvous rounds rank r has started (add)
//   P <g>/world_size   "<world size> <rank>" of the first rank to arrive (compare_set)
//   P <g>/rank/<r>     rank r's record: "<world size>\t<hostname>\t<boot id>\t<pid>"
//   P <g>/arrived      counter of published records (add)
//   P <g>/outcome      set once, first writer wins (compare_set):
//                      "table\n<job id>\n" + one "<hostname>\t<boot id>\t<pid>\n" per rank,
//                      "abort\n<message>" (ranks disagree), or
//                      "timeout\n<missing ranks, comma-separated>"
//   P <g>/read/<r>     rank r has read the outcome (the store's host waits for these
//                      before it returns, so its server outlives everyone's last read)
// Rounds keep a second rendezvous on the same store (a re-initialisation in
// the same process, or a new job on a launcher's store that outlives jobs)
// from reading the first one's keys: each rank counts its own rounds, so ranks
// that completed the same rounds meet in the same, fresh, namespace.
//
// Thread safety: join() may run on several threads at once (one per rank).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "baton/store.hpp"
#include "rendezvous/host_identity.hpp"

namespace baton::rendezvous {

using Clock = std::chrono::steady_clock;

struct JoinOptions {
  int rank = 0;
  int world_size = 1;
  std::string job_id;  // BATON_JOB_ID; empty: the rendezvous makes one up
  HostIdentity self;
  Clock::time_point deadline;         // when to give up
  std::chrono::milliseconds timeout;  // the whole rendezvous' timeout, for messages
  // This process runs the store's server: before returning (or throwing), wait
  // up to kHostLingerTime for every rank that joined to read the outcome.
  bool hosts_store = false;
};

struct JoinResult {
  std::string job_id;               // BATON_JOB_ID, or the one the last rank made up
  int64_t round = 0;                // g above
  std::vector<HostIdentity> hosts;  // per rank
  std::vector<int64_t> pids;        // per rank, as each published it
};

// How long a store host waits, after the outcome is known, for the others to read it.
inline constexpr std::chrono::milliseconds kHostLingerTime{500};

// Blocks until every rank has joined or options.deadline passes. Throws
// TimeoutError "rendezvous: rank 3 of 4 did not join within 30 s" (the same
// ranks on every rank that arrived), MismatchError when two ranks give
// different world sizes (naming both ranks and values, on every rank that
// arrived), ProtocolError for a malformed record, and the store's own errors
// (ConnectionError when its server is gone).
JoinResult join(Store& store, const JoinOptions& options);

// The local rank and local world size of `rank`: its position among the ranks
// whose identity equals its own (ordered by rank), and their number.
struct LocalPlacement {
  int local_rank = 0;
  int local_world_size = 1;
};
LocalPlacement local_placement(const std::vector<HostIdentity>& hosts, int rank);

// Messages name ranks with describe_ranks and durations with
// describe_duration (core/describe.hpp).

}  // namespace baton::rendezvous
