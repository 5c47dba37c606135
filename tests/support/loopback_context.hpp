// Loopback transport: a test double for transport::Context where the ranks
// of one group are threads of one process.
//
// make_loopback_group(n) returns one Context per rank; they share an
// in-process switchboard that follows the matching rules of
// transport/transport.hpp: point-to-point messages match by (source, tag) in
// the order sent, kAnySource takes the oldest; collective messages match by
// (source, seq, tag), and a collective message whose seq is that of a posted
// receive from the same peer but whose OpDesc differs fails that receive with
// MismatchError naming both ranks and both descriptions, as does posting a
// receive while such a message waits; the message is dropped. A p2p message
// longer than its receive fails the receive with InvalidArgument naming both
// sizes (a shorter one completes it with Request::bytes() = its length); a
// collective message whose length differs from its receive's fails it with
// MismatchError. The send side of a message completes normally in all these
// cases (it was delivered). This is what transport/matcher.hpp does for the
// real transports.
//
// Eager and rendezvous: a message of at most LoopbackOptions::eager_bytes is
// copied when sent and its send completes at once, like a socket write; a
// longer one stays in the sender's buffer and its send completes only when a
// receive takes it. With the default (0) every send waits for its receive,
// the strictest behaviour a transport may have, so a test catches an
// algorithm that reuses a send buffer too early or needs buffering to avoid
// a deadlock.
//
// Failures: abort(why) fails every pending and future request of that rank
// with `why`, and every peer's pending and future request that involves that
// rank (including kAnySource receives that no waiting message satisfies) with
// the same exception, so a MismatchError found by one rank reaches the others
// as a MismatchError. Destroying a context does the same with a
// ConnectionError naming the rank.
//
// There is no progress thread: matching and copying happen inside isend and
// irecv, under one lock, so requests complete on the calling threads.
//
// Thread safety: every Context may be used from any thread; contexts may be
// destroyed in any order.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "transport/transport.hpp"

namespace baton::testing {

struct LoopbackOptions {
  // Messages up to this many bytes are buffered when sent (see above).
  size_t eager_bytes = 0;
};

// One connected Context per rank of a group of `size` ranks (size >= 1).
std::vector<std::unique_ptr<transport::Context>> make_loopback_group(int size,
                                                                     LoopbackOptions options = {});

// "all_reduce(float32 x 8, SUM)", "broadcast(uint8 x 3, root 1)" for messages.
std::string describe_op(const transport::OpDesc& op);

}  // namespace baton::testing
