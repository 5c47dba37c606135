// Frame: the 48-byte header in front of every message on a byte-stream
// transport (docs/wire_protocol.md, "Transport frames").
//
// A frame is a header followed by `length` payload bytes. Data frames carry
// one message (its Envelope); an abort frame carries the reason a peer
// aborted the group; a goodbye frame says the peer is closing on purpose.
// decode_frame_header() checks everything a header can be checked for on its
// own (magic, version, type, channel, reserved bytes, seq and op fields in
// range, abort length within its cap) so that a receiver never acts on a
// field it has not validated; the matcher then checks the rest against the
// posted receive (length, seq, tag, OpDesc).
//
// All integers are little-endian on the wire.
//
// Thread safety: pure functions on values.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>

#include "baton/error.hpp"
#include "transport/transport.hpp"

namespace baton::transport {

// The bytes "BTNF" in stream order.
inline constexpr std::array<std::byte, 4> kFrameMagic = {std::byte{'B'}, std::byte{'T'},
                                                         std::byte{'N'}, std::byte{'F'}};
inline constexpr uint8_t kFrameVersion = 2;  // 2: byte 10 carries the algorithm
inline constexpr size_t kFrameHeaderSize = 48;
// The longest reason an abort frame may carry.
inline constexpr uint64_t kMaxAbortReasonBytes = 16 * 1024;

enum class FrameType : uint8_t {
  kData = 1,     // a message: envelope + payload
  kAbort = 2,    // the sender aborted: envelope.tag holds the ErrorCode, payload the reason
  kGoodbye = 3,  // the sender is closing its connection on purpose; no payload
};

struct FrameHeader {
  FrameType type = FrameType::kData;
  Envelope envelope;
  uint64_t length = 0;  // payload bytes after the header
};

using FrameHeaderBytes = std::array<std::byte, kFrameHeaderSize>;

FrameHeaderBytes encode_frame_header(const FrameHeader& header);

// Decodes and validates a header received from `peer` of a group of
// `world_size` ranks. Throws ProtocolError naming the peer's rank and the
// offending field ("rank 1 sent a frame with bad magic 0x47455420 (expected
// \"BTNF\") ...") when the bytes are not a valid header.
FrameHeader decode_frame_header(std::span<const std::byte, kFrameHeaderSize> bytes, int peer,
                                int world_size);

// What is wrong with a data frame's envelope in a group of `world_size`
// ranks, or "" when nothing is: a p2p frame has seq 0; a collective frame has
// an operation kind; dtype and reduce op are in range; root is -1 or a rank.
// Senders refuse such envelopes (InvalidArgument), receivers reject such
// frames (ProtocolError).
std::string envelope_problem(const Envelope& envelope, int world_size);

// What is wrong with rank `rank` of `size` sending to `peer` (or receiving
// from it: kAnySource is allowed on the p2p channel) with this envelope, or
// "" when nothing is. Every transport checks its isend/irecv arguments here.
std::string send_problem(int peer, const Envelope& envelope, int rank, int size);
std::string receive_problem(int peer, const Envelope& envelope, int rank, int size);

// An abort frame and the error it stands for: the receiving side rebuilds an
// exception of the same ErrorCode so that, e.g., a MismatchError found on one
// rank is a MismatchError on every rank.
FrameHeader make_abort_header(ErrorCode code, uint64_t reason_length);

}  // namespace baton::transport
