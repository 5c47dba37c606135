// The shared-memory transport: how the ranks of one host get a
// transport::Context over POSIX shared memory.
//
// make_shm_context() sets up one segment for the group through `store`:
//   1. rank 0 creates "/baton-<job id>-<group key>-<random token>" in
//      /dev/shm (sized for every ring; all pages allocated at once) and
//      publishes its name under "<group_key>/shm/segment";
//   2. every rank maps it, fills its slot (pid, the address of a probe word)
//      and sets "<group_key>/shm/mapped/<rank>";
//   3. once every rank has mapped it, rank 0 unlinks the name, so nothing is
//      left in /dev/shm whatever happens later; every rank probes
//      process_vm_readv on each peer's probe word (the single-copy path is
//      used only towards receivers whose probe succeeded) and opens a pidfd
//      per peer (the liveness channel), then sets "<group_key>/shm/ready/<rank>";
//   4. once every rank is ready, the context starts its progress thread.
// Every rank of the group must share one kernel (the native backend checks
// host identities before choosing this transport) and one pid namespace.
//
// The context's behaviour (matching, buffering, failures, abort) is that of
// transport.hpp; the layout is in docs/wire_protocol.md ("Shared memory"),
// the threads in docs/thread_model.md.
//
// Thread safety: make_shm_context may be called from any thread; the context
// follows transport.hpp.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "baton/store.hpp"
#include "transport/matcher.hpp"
#include "transport/transport.hpp"

namespace baton::transport {

struct ShmOptions {
  // How long setup may take; zero means BATON_TIMEOUT.
  std::chrono::milliseconds timeout{0};
  // The job id in the segment's name; nullopt means BATON_JOB_ID.
  std::optional<std::string> job_id;
  // Bound on buffered early messages; zero means BATON_UNEXPECTED_BYTES.
  size_t unexpected_bytes = 0;
  // Names collectives in MismatchError messages; nullptr prints raw numbers.
  OpFormatter describe_op = nullptr;
  // Bytes of each per-pair ring; zero means BATON_SHM_RING_BYTES.
  size_t ring_bytes = 0;
  // Whether large messages may use process_vm_readv; nullopt means BATON_SHM_SINGLE_COPY.
  std::optional<bool> single_copy;
  // Smallest message sent by single copy; zero means BATON_SHM_SINGLE_COPY_BYTES.
  size_t single_copy_bytes = 0;
  // Largest message sent by single copy (larger ones go through the ring);
  // nullopt means BATON_SHM_SINGLE_COPY_MAX_BYTES; 0: no limit.
  std::optional<size_t> single_copy_max_bytes;
  // Bytes of each buffer of the shared area (transport.hpp, SharedArea);
  // nullopt means BATON_SHM_AREA_BYTES; 0 gives no shared area. A segment
  // of a subset (`members`) has one for its members (Context::host_area).
  std::optional<size_t> area_bytes;
  // The group ranks that share this segment (increasing, this rank among
  // them); empty means the whole group. A mixed group gives each host's
  // ranks their own segment (store keys under "<group_key>/shm/<first member>").
  // Sends and receives name group ranks; other ranks are not reachable here.
  std::vector<int> members;
  // The rendezvous' pid of each group rank that runs on this host, 0 for
  // the others (or where unknown): a peer that exits during setup is then a
  // ConnectionError naming it at once, not a wait for the timeout.
  std::vector<pid_t> peer_pids;
};

// Sets up the segment and returns the context. Blocks until every rank has
// mapped it and probed its peers, or the timeout. Throws InvalidArgument for
// a rank outside [0, size), size < 1 or a bad tunable; IoError naming
// /dev/shm when the segment cannot be created or opened (missing or full
// /dev/shm); TimeoutError naming the ranks that did not map it in time;
// ProtocolError when the segment found is not what this rank expects; what
// the store throws when the store fails.
std::unique_ptr<Context> make_shm_context(Store& store, const std::string& group_key, int rank,
                                          int size, const ShmOptions& options = {});

}  // namespace baton::transport
