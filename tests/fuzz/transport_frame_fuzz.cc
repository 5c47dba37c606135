// Fuzzes the transport frame header (src/transport/frame.hpp): the 48 bytes
// a rank reads from a peer's socket before every message, and the envelope
// checks behind it (envelope_problem, send_problem, receive_problem).
//
// Input: byte 0 picks the world size (1..9) and byte 1 the peer; then 48
// header bytes. A header that decodes must encode back to the same bytes and
// carry a valid envelope; one that does not must throw ProtocolError.
#include <array>
#include <cstring>

#include "core/little_endian.hpp"
#include "fuzz_support.hpp"
#include "transport/frame.hpp"

namespace {

namespace tr = baton::transport;

std::string hex(const tr::FrameHeaderBytes& b) {
  return baton::fuzz::hex(std::span(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
}

void header(const tr::FrameHeaderBytes& bytes, int peer, int world_size) {
  tr::FrameHeader h;
  try {
    h = tr::decode_frame_header(bytes, peer, world_size);
  } catch (const baton::ProtocolError& e) {
    const std::string what = e.what();
    BATON_FUZZ_CHECK(what.starts_with("rank " + std::to_string(peer) + " sent"),
                     "the error does not name the peer: " + what);
    return;
  }
  const tr::FrameHeaderBytes again = tr::encode_frame_header(h);
  BATON_FUZZ_CHECK(again == bytes, "accepted header " + hex(bytes) + " encodes as " + hex(again));
  if (h.type == tr::FrameType::kData) {
    BATON_FUZZ_CHECK(tr::envelope_problem(h.envelope, world_size).empty(),
                     "accepted data frame with a bad envelope");
  } else if (h.type == tr::FrameType::kAbort) {
    BATON_FUZZ_CHECK(h.length <= tr::kMaxAbortReasonBytes, "abort reason over the cap");
    const auto code = static_cast<baton::ErrorCode>(h.envelope.tag);
    const auto rebuilt = tr::encode_frame_header(tr::make_abort_header(code, h.length));
    BATON_FUZZ_CHECK(tr::decode_frame_header(rebuilt, peer, world_size).length == h.length,
                     "make_abort_header");
    // The receiver turns the code back into an exception of that type.
    const std::exception_ptr error = baton::make_error(code, "reason");
    BATON_FUZZ_CHECK(error != nullptr && baton::error_code(error) == code,
                     "make_error for code " + std::to_string(h.envelope.tag));
  } else {
    BATON_FUZZ_CHECK(h.length == 0, "goodbye with a payload");
  }
}

// The sender-side checks on the envelope read from the same bytes.
void problems(const tr::FrameHeader& h, int rank, int peer, int world_size) {
  const std::string envelope = tr::envelope_problem(h.envelope, world_size);
  const std::string send = tr::send_problem(peer, h.envelope, rank, world_size);
  const std::string receive = tr::receive_problem(peer, h.envelope, rank, world_size);
  if (!envelope.empty()) BATON_FUZZ_CHECK(!send.empty(), "send_problem misses: " + envelope);
  if (send.empty()) {
    // Whatever a sender may send, a receiver must accept.
    tr::FrameHeader data = h;
    data.type = tr::FrameType::kData;
    const auto bytes = tr::encode_frame_header(data);
    BATON_FUZZ_CHECK(
        baton::fuzz::graceful([&] { tr::decode_frame_header(bytes, rank, world_size); }),
        "a frame send_problem allows is refused by the receiver: " + hex(bytes));
  }
  (void)receive;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  baton::fuzz::Input in(data, size);
  const int world_size = 1 + in.u8() % 9;
  const int peer = in.u8() % world_size;
  const auto raw = in.take(tr::kFrameHeaderSize);
  if (raw.size() != tr::kFrameHeaderSize) return 0;
  tr::FrameHeaderBytes bytes{};
  std::memcpy(bytes.data(), raw.data(), bytes.size());
  baton::fuzz::graceful([&] { header(bytes, peer, world_size); });

  // The same fields as an envelope a sender was handed (no magic/version
  // checks), with the channel byte taken as it is.
  tr::FrameHeader h;
  const std::byte* p = bytes.data();
  h.envelope.channel = static_cast<tr::Channel>(baton::get_le<uint8_t>(p + 6));
  h.envelope.op.kind = baton::get_le<uint8_t>(p + 7);
  h.envelope.op.dtype = baton::get_le<uint8_t>(p + 8);
  h.envelope.op.reduce_op = baton::get_le<uint8_t>(p + 9);
  h.envelope.op.algorithm = baton::get_le<uint8_t>(p + 10);
  h.envelope.op.root = baton::get_le<int32_t>(p + 12);
  h.envelope.op.count = baton::get_le<uint64_t>(p + 16);
  h.envelope.seq = baton::get_le<uint64_t>(p + 24);
  h.envelope.tag = baton::get_le<int64_t>(p + 32);
  h.length = baton::get_le<uint64_t>(p + 40);
  const int rank = (peer + 1) % world_size;
  baton::fuzz::graceful([&] { problems(h, rank, peer, world_size); });
  return 0;
}
