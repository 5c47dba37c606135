// Transport: moving bytes between the ranks of one group.
//
// A Context connects one rank to every other rank of a group (a full mesh)
// and offers asynchronous, tagged sends and receives. Transports (tcp, shm)
// implement it; collectives and backends use only this interface. A
// transport never knows what a collective is: it matches messages by their
// Envelope and checks the OpDesc fingerprint that the collective layer puts
// in it.
//
// Ownership: the caller owns every payload and receive buffer and must keep
// it valid (and a send payload unchanged) until the Request completes. A
// Context owns its connections and its progress thread; destroying it fails
// every pending Request with ConnectionError.
//
// Matching rules:
//  - Channel::kP2P: a receive matches the oldest message from its peer (or
//    from any peer with kAnySource) with the same tag. Messages between one
//    pair with the same tag arrive in the order sent (MPI's non-overtaking
//    rule). A message longer than the receive buffer fails the receive with
//    MismatchError naming both sizes; a shorter one completes it, and
//    Request::bytes() says how much arrived.
//  - Channel::kCollective: a receive matches the message from its peer with
//    the same seq and tag; the length must equal the buffer's. A message whose
//    seq is that of a posted receive but whose OpDesc differs (another
//    collective, dtype, count, op or root) fails the receive with
//    MismatchError naming both ranks and both descriptions.
//  - Agreement (begin_op): the collective layer tells the context which
//    collective this rank runs, before its first message. A collective
//    message or probe (kProbeTag) from any peer whose seq is that of the
//    operation this rank runs or ran, with another OpDesc, and a collective
//    message for an operation this rank has finished (one it never received:
//    the ranks run different algorithms or roots), mean the ranks diverged:
//    the context aborts with MismatchError naming both ranks and both
//    operations, so every rank's current or next operation fails.
//  - A receive posted before its message arrives gets the payload written
//    straight into its buffer. Messages that arrive first wait in a bounded
//    queue (BATON_UNEXPECTED_BYTES); beyond it the transport stops reading
//    from that peer until receives are posted.
//
// Errors: a peer that closes its connection or dies fails every pending
// Request that involves it with ConnectionError naming its rank, and the
// context stays failed for that peer. abort() fails everything, locally and
// (best effort) on every peer, with the given reason.
//
// Thread safety: isend, irecv, abort and progress may be called from any thread.
// Requests complete on the transport's progress thread, or on the calling
// thread when isend finds an idle connection and writes the whole message at
// once, or when irecv matches a message that has already arrived, or on a
// thread that waits on a request and drives the transport itself (its
// Driver, transport/request.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <string>

#include "baton/error.hpp"
#include "transport/request.hpp"

namespace baton::transport {

inline constexpr int kAnySource = -1;

enum class Channel : uint8_t { kP2P = 1, kCollective = 2 };

// What a collective is doing; ranks of one collective must agree on all of it.
struct OpDesc {
  uint8_t kind = 0;       // collectives::OpKind (0 for point-to-point)
  uint8_t dtype = 0;      // baton::DType
  uint8_t reduce_op = 0;  // baton::ReduceOp, 0 when not a reduction
  int32_t root = -1;      // group rank of the root, -1 when none
  uint64_t count = 0;     // elements per rank that must agree
  // collectives::Algorithm + 1 once the collective layer chose it; 0 before
  // (ranks running another algorithm exchange messages the others never expect).
  uint8_t algorithm = 0;
  friend bool operator==(const OpDesc&, const OpDesc&) = default;
};

// The tag of an agreement probe: a zero-length collective message that says
// "I run operation `seq` described by `op`" (Context::begin_op, Comm's waits).
// Algorithms use tags >= 0.
inline constexpr int64_t kProbeTag = -1;

struct Envelope {
  Channel channel = Channel::kP2P;
  uint64_t seq = 0;  // collective: the group's operation number; p2p: 0
  int64_t tag = 0;   // p2p: the user's tag; collective: the algorithm's step
  OpDesc op;         // collective only
};

// Memory that every rank of the group maps (shared memory, all ranks on one
// host), for collectives that run on the calling thread with no messages
// (the shared_memory algorithms, docs/algorithms.md). Each rank owns
// buffers() buffers of buffer_bytes(); generation g uses buffer
// g % buffers(). Each rank has two flags, posted and reduced, that say which
// generation it has reached. Every collective run on the area takes the next
// generations in the same order on every rank.
//
// The rules that make it safe (the algorithms keep them):
//  - a rank writes its buffer of generation g only after begin() returned g;
//    begin waits until every peer has posted g - buffers() + 1, so no peer
//    still reads that buffer for an older generation;
//  - post(kPosted, g) says: my buffer of g holds what I write for g, and I
//    have finished reading every peer's buffers of earlier generations;
//  - a rank reads a peer's buffer of g only after wait(peer, flag, g).
//
// Errors: wait and begin throw TimeoutError naming the operation and the rank
// waited for once the operation's deadline passes; MismatchError when the
// peer's buffer holds another collective (its seq and OpDesc, written by
// begin, differ); ConnectionError when the peer died or closed; the peer's
// error when it aborted; this context's error after abort().
//
// Thread safety: one collective at a time per group, on one thread.
class SharedArea {
 public:
  enum class Flag : uint8_t { kPosted, kReduced };
  using Clock = std::chrono::steady_clock;

  virtual ~SharedArea() = default;
  virtual int buffers() const = 0;
  virtual size_t buffer_bytes() const = 0;
  // Opens one collective: the seq and OpDesc every rank must agree on and its deadline.
  virtual void start(uint64_t seq, const OpDesc& op, Clock::time_point deadline) = 0;
  // The next generation, once this rank may write its buffer for it.
  virtual uint64_t begin() = 0;
  virtual std::byte* buffer(int rank, uint64_t generation) const = 0;
  virtual void post(Flag flag, uint64_t generation) = 0;
  // Returns once `peer` posted `flag` for `generation` (kPosted: and its
  // buffer holds this collective).
  virtual void wait(int peer, Flag flag, uint64_t generation) = 0;
};

class Context {
 public:
  virtual ~Context() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // The transport's name for reports ("tcp", "shm").
  virtual std::string name() const = 0;
  // The transport that reaches `peer` ("tcp", "shm"); a routing context that
  // mixes transports answers per peer. Never blocks.
  virtual std::string peer_transport(int peer) const {
    (void)peer;
    return name();
  }

  // Starts sending payload to peer; never blocks on the network.
  // Errors (bad peer, failed context) fail the returned request.
  virtual RequestPtr isend(int peer, const Envelope& envelope,
                           std::span<const std::byte> payload) = 0;
  // Posts a receive into buffer from peer (kAnySource on the p2p channel).
  virtual RequestPtr irecv(int peer, const Envelope& envelope, std::span<std::byte> buffer) = 0;
  // Fails every pending and future request with `why` and tells the peers.
  virtual void abort(std::exception_ptr why) = 0;
  // This rank now runs collective `seq` (increasing by one per collective
  // of the group) described by `op`; see "Agreement" above. May be called
  // again for the same seq with a refined op before any of its messages.
  // Never blocks; the default (a transport that checks nothing) ignores it.
  virtual void begin_op(uint64_t /*seq*/, const OpDesc& /*op*/) {}

  // The group's shared area (see SharedArea), or nullptr where the ranks
  // share no memory (tcp, a group spread over hosts) or it is turned off
  // (BATON_SHM_AREA_BYTES=0). Every rank of a group gets the same answer.
  virtual SharedArea* shared_area() { return nullptr; }

  // Topology, for collectives that work host by host (hierarchical):
  // hosts()[r] is the host of group rank r, hosts numbered 0, 1, ... in the
  // order of their lowest rank; empty where the transport does not know (or
  // all ranks share one host). host_area() is the shared area of this rank's
  // host, indexed by position among the host's ranks in increasing group
  // rank, or nullptr; for a group on one host it is shared_area().
  virtual std::span<const int> hosts() const { return {}; }
  virtual SharedArea* host_area() { return shared_area(); }
};

}  // namespace baton::transport
