// Frame header encoding and validation; see frame.hpp for the rules and
// docs/wire_protocol.md for the byte layout.
#include "transport/frame.hpp"

#include <cstring>

#include "baton/dtype.hpp"
#include "baton/reduce_op.hpp"
#include "core/little_endian.hpp"

namespace baton::transport {
namespace {

// Byte offsets (docs/wire_protocol.md).
constexpr size_t kOffMagic = 0;
constexpr size_t kOffVersion = 4;
constexpr size_t kOffType = 5;
constexpr size_t kOffChannel = 6;
constexpr size_t kOffKind = 7;
constexpr size_t kOffDtype = 8;
constexpr size_t kOffReduceOp = 9;
constexpr size_t kOffAlgorithm = 10;
constexpr size_t kOffReserved = 11;  // 1 byte, zero
constexpr size_t kOffRoot = 12;
constexpr size_t kOffCount = 16;
constexpr size_t kOffSeq = 24;
constexpr size_t kOffTag = 32;
constexpr size_t kOffLength = 40;

constexpr size_t kNumDTypes = std::size(kAllDTypes);
constexpr size_t kNumReduceOps = std::size(kAllReduceOps);

std::string hex_bytes(const std::byte* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "0x";
  for (size_t i = 0; i < n; ++i) {
    const auto b = std::to_integer<uint8_t>(p[i]);
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

[[noreturn]] void bad(int peer, const std::string& what) {
  throw ProtocolError("rank " + std::to_string(peer) + " sent an invalid frame header: " + what +
                      "; the stream is not Baton's transport protocol or is corrupted, so the "
                      "connection to rank " +
                      std::to_string(peer) + " is closed");
}

}  // namespace

FrameHeaderBytes encode_frame_header(const FrameHeader& header) {
  FrameHeaderBytes out{};
  std::byte* p = out.data();
  std::memcpy(p + kOffMagic, kFrameMagic.data(), kFrameMagic.size());
  put_le<uint8_t>(p + kOffVersion, kFrameVersion);
  put_le<uint8_t>(p + kOffType, static_cast<uint8_t>(header.type));
  const Envelope& e = header.envelope;
  // Control frames (abort, goodbye) carry channel 0.
  put_le<uint8_t>(p + kOffChannel,
                  header.type == FrameType::kData ? static_cast<uint8_t>(e.channel) : uint8_t{0});
  put_le<uint8_t>(p + kOffKind, e.op.kind);
  put_le<uint8_t>(p + kOffDtype, e.op.dtype);
  put_le<uint8_t>(p + kOffReduceOp, e.op.reduce_op);
  put_le<uint8_t>(p + kOffAlgorithm, e.op.algorithm);
  put_le<int32_t>(p + kOffRoot, e.op.root);
  put_le<uint64_t>(p + kOffCount, e.op.count);
  put_le<uint64_t>(p + kOffSeq, e.seq);
  put_le<int64_t>(p + kOffTag, e.tag);
  put_le<uint64_t>(p + kOffLength, header.length);
  return out;
}

FrameHeader decode_frame_header(std::span<const std::byte, kFrameHeaderSize> bytes, int peer,
                                int world_size) {
  const std::byte* p = bytes.data();
  if (std::memcmp(p + kOffMagic, kFrameMagic.data(), kFrameMagic.size()) != 0) {
    bad(peer, "bad magic " + hex_bytes(p + kOffMagic, 4) +
                  " (expected \"BTNF\" = " + hex_bytes(kFrameMagic.data(), 4) + ")");
  }
  const auto version = get_le<uint8_t>(p + kOffVersion);
  if (version != kFrameVersion) {
    bad(peer, "protocol version " + std::to_string(version) + " (this build speaks version " +
                  std::to_string(kFrameVersion) + "; run the same Baton version on every rank)");
  }
  FrameHeader h;
  const auto type = get_le<uint8_t>(p + kOffType);
  if (type < 1 || type > 3) bad(peer, "unknown frame type " + std::to_string(type));
  h.type = static_cast<FrameType>(type);
  if (get_le<uint8_t>(p + kOffReserved) != 0) bad(peer, "reserved byte 11 is not zero");
  Envelope& e = h.envelope;
  const auto channel = get_le<uint8_t>(p + kOffChannel);
  e.op.kind = get_le<uint8_t>(p + kOffKind);
  e.op.dtype = get_le<uint8_t>(p + kOffDtype);
  e.op.reduce_op = get_le<uint8_t>(p + kOffReduceOp);
  e.op.algorithm = get_le<uint8_t>(p + kOffAlgorithm);
  e.op.root = get_le<int32_t>(p + kOffRoot);
  e.op.count = get_le<uint64_t>(p + kOffCount);
  e.seq = get_le<uint64_t>(p + kOffSeq);
  e.tag = get_le<int64_t>(p + kOffTag);
  h.length = get_le<uint64_t>(p + kOffLength);

  if (h.type == FrameType::kData) {
    if (channel != static_cast<uint8_t>(Channel::kP2P) &&
        channel != static_cast<uint8_t>(Channel::kCollective)) {
      bad(peer, "unknown channel " + std::to_string(channel) + " (expected 1 or 2)");
    }
    e.channel = static_cast<Channel>(channel);
    const std::string problem = envelope_problem(e, world_size);
    if (!problem.empty()) bad(peer, problem);
  } else {
    if (channel != 0) bad(peer, "control frame on channel " + std::to_string(channel));
    if (h.type == FrameType::kGoodbye && h.length != 0) {
      bad(peer, "goodbye frame with a " + std::to_string(h.length) + "-byte payload");
    }
    if (h.type == FrameType::kAbort &&
        (e.tag < 0 || e.tag > static_cast<int64_t>(kLastErrorCode))) {
      bad(peer, "abort frame with unknown error code " + std::to_string(e.tag));
    }
    if (h.type == FrameType::kAbort && h.length > kMaxAbortReasonBytes) {
      bad(peer, "abort reason of " + std::to_string(h.length) + " bytes (at most " +
                    std::to_string(kMaxAbortReasonBytes) + ")");
    }
  }
  return h;
}

std::string envelope_problem(const Envelope& e, int world_size) {
  if (e.channel != Channel::kP2P && e.channel != Channel::kCollective) {
    return "unknown channel " + std::to_string(static_cast<int>(e.channel)) + " (expected 1 or 2)";
  }
  if (e.op.dtype >= kNumDTypes) return "dtype " + std::to_string(e.op.dtype) + " out of range";
  if (e.op.reduce_op >= kNumReduceOps) {
    return "reduce op " + std::to_string(e.op.reduce_op) + " out of range";
  }
  if (e.op.root < -1 || e.op.root >= world_size) {
    return "root " + std::to_string(e.op.root) + " outside the group of " +
           std::to_string(world_size) + " ranks";
  }
  if (e.channel == Channel::kP2P && e.seq != 0) {
    return "point-to-point frame with sequence number " + std::to_string(e.seq) + " (expected 0)";
  }
  if (e.channel == Channel::kCollective && e.op.kind == 0) {
    return "collective frame without an operation kind";
  }
  return "";
}

namespace {
std::string peer_problem(int peer, int rank, int size) {
  if (peer < 0 || peer >= size || peer == rank) {
    return "peers are 0.." + std::to_string(size - 1) + " other than itself";
  }
  return "";
}
}  // namespace

std::string send_problem(int peer, const Envelope& envelope, int rank, int size) {
  if (std::string problem = peer_problem(peer, rank, size); !problem.empty()) return problem;
  if (std::string problem = envelope_problem(envelope, size); !problem.empty()) {
    return "invalid envelope: " + problem;
  }
  return "";
}

std::string receive_problem(int peer, const Envelope& envelope, int rank, int size) {
  if (peer != kAnySource) return peer_problem(peer, rank, size);
  if (size == 1) return "no other rank could send to it (the group has one rank)";
  if (envelope.channel != Channel::kP2P) return "a collective receive must name its peer";
  return "";
}

FrameHeader make_abort_header(ErrorCode code, uint64_t reason_length) {
  FrameHeader h;
  h.type = FrameType::kAbort;
  h.envelope.tag = static_cast<int64_t>(code);
  h.length = reason_length;
  return h;
}

}  // namespace baton::transport
