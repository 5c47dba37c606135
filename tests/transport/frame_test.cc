// Frame header and TCP hello: encoding round trips and every validation rule.
#include "transport/frame.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "transport/tcp/handshake.hpp"

namespace baton::transport {
namespace {

using ::testing::HasSubstr;

Envelope collective(uint64_t seq, int64_t tag) {
  Envelope e;
  e.channel = Channel::kCollective;
  e.seq = seq;
  e.tag = tag;
  e.op = OpDesc{
      .kind = 2, .dtype = 1, .reduce_op = 3, .root = 2, .count = 123456789012ull, .algorithm = 5};
  return e;
}

FrameHeader decode(const FrameHeaderBytes& bytes, int peer = 1, int world = 4) {
  return decode_frame_header(bytes, peer, world);
}

std::string decode_error(const FrameHeaderBytes& bytes, int peer = 1, int world = 4) {
  try {
    decode(bytes, peer, world);
  } catch (const ProtocolError& e) {
    return e.what();
  }
  return "";
}

TEST(FrameTest, DataHeaderRoundTrips) {
  FrameHeader h{FrameType::kData, collective(77, -5), 1ull << 40};
  const FrameHeaderBytes bytes = encode_frame_header(h);
  EXPECT_EQ(0, std::memcmp(bytes.data(), "BTNF", 4));
  const FrameHeader back = decode(bytes);
  EXPECT_EQ(back.type, FrameType::kData);
  EXPECT_EQ(back.envelope.channel, Channel::kCollective);
  EXPECT_EQ(back.envelope.seq, 77u);
  EXPECT_EQ(back.envelope.tag, -5);
  EXPECT_EQ(back.envelope.op, h.envelope.op);
  EXPECT_EQ(back.length, 1ull << 40);
}

TEST(FrameTest, LayoutIsLittleEndianAtDocumentedOffsets) {
  FrameHeader h{FrameType::kData, collective(0x0102030405060708ull, 0x1112), 0x2122};
  const FrameHeaderBytes b = encode_frame_header(h);
  EXPECT_EQ(std::to_integer<int>(b[4]), kFrameVersion);
  EXPECT_EQ(std::to_integer<int>(b[5]), 1);      // type data
  EXPECT_EQ(std::to_integer<int>(b[6]), 2);      // channel collective
  EXPECT_EQ(std::to_integer<int>(b[7]), 2);      // op kind
  EXPECT_EQ(std::to_integer<int>(b[8]), 1);      // dtype
  EXPECT_EQ(std::to_integer<int>(b[9]), 3);      // reduce op
  EXPECT_EQ(std::to_integer<int>(b[10]), 5);     // algorithm
  EXPECT_EQ(std::to_integer<int>(b[11]), 0);     // reserved
  EXPECT_EQ(std::to_integer<int>(b[12]), 2);     // root, low byte first
  EXPECT_EQ(std::to_integer<int>(b[24]), 0x08);  // seq, low byte first
  EXPECT_EQ(std::to_integer<int>(b[31]), 0x01);
  EXPECT_EQ(std::to_integer<int>(b[32]), 0x12);  // tag
  EXPECT_EQ(std::to_integer<int>(b[40]), 0x22);  // length
}

TEST(FrameTest, BadMagicIsProtocolErrorNamingThePeer) {
  FrameHeaderBytes bytes = encode_frame_header({FrameType::kData, Envelope{}, 8});
  std::memcpy(bytes.data(), "GET ", 4);
  const std::string what = decode_error(bytes, 3);
  EXPECT_THAT(what, HasSubstr("rank 3"));
  EXPECT_THAT(what, HasSubstr("bad magic 0x47455420"));
}

TEST(FrameTest, EveryFieldIsValidated) {
  const FrameHeaderBytes good = encode_frame_header({FrameType::kData, collective(1, 0), 8});
  auto with = [&](size_t offset, uint8_t value) {
    FrameHeaderBytes b = good;
    b[offset] = std::byte{value};
    return decode_error(b);
  };
  EXPECT_THAT(with(4, 9), HasSubstr("protocol version 9"));
  EXPECT_THAT(with(5, 7), HasSubstr("unknown frame type 7"));
  EXPECT_THAT(with(6, 5), HasSubstr("unknown channel 5"));
  EXPECT_THAT(with(7, 0), HasSubstr("without an operation kind"));
  EXPECT_THAT(with(8, 200), HasSubstr("dtype 200"));
  EXPECT_THAT(with(9, 8), HasSubstr("reduce op 8"));
  EXPECT_THAT(with(11, 1), HasSubstr("reserved"));
  EXPECT_THAT(with(12, 4), HasSubstr("root 4 outside the group of 4"));
  // A p2p frame must carry seq 0.
  FrameHeaderBytes p2p = encode_frame_header({FrameType::kData, Envelope{}, 8});
  p2p[24] = std::byte{1};
  EXPECT_THAT(decode_error(p2p), HasSubstr("sequence number 1"));
  EXPECT_EQ(decode_error(good), "");
}

TEST(FrameTest, ControlFrames) {
  const FrameHeader abort = make_abort_header(ErrorCode::kMismatch, 12);
  const FrameHeader back = decode(encode_frame_header(abort));
  EXPECT_EQ(back.type, FrameType::kAbort);
  EXPECT_EQ(back.envelope.tag, static_cast<int64_t>(ErrorCode::kMismatch));
  EXPECT_EQ(back.length, 12u);
  EXPECT_THAT(decode_error(encode_frame_header(make_abort_header(ErrorCode::kMismatch, 1 << 20))),
              HasSubstr("abort reason of 1048576 bytes"));
  FrameHeader bad_code = make_abort_header(ErrorCode::kMismatch, 1);
  bad_code.envelope.tag = 99;
  EXPECT_THAT(decode_error(encode_frame_header(bad_code)), HasSubstr("unknown error code 99"));
  EXPECT_THAT(decode_error(encode_frame_header({FrameType::kGoodbye, Envelope{}, 3})),
              HasSubstr("goodbye frame with a 3-byte payload"));
  EXPECT_EQ(decode(encode_frame_header({FrameType::kGoodbye, Envelope{}, 0})).type,
            FrameType::kGoodbye);
}

TEST(FrameTest, EnvelopeProblemsForSenders) {
  EXPECT_EQ(envelope_problem(Envelope{}, 2), "");
  Envelope e;
  e.seq = 4;
  EXPECT_THAT(envelope_problem(e, 2), HasSubstr("sequence number 4"));
  Envelope c = collective(1, 0);
  c.op.root = 7;
  EXPECT_THAT(envelope_problem(c, 4), HasSubstr("root 7"));
}

TEST(FrameTest, SendAndReceiveProblemsEveryTransportChecks) {
  const Envelope p2p{.channel = Channel::kP2P, .seq = 0, .tag = 0, .op = {}};
  const Envelope coll{.channel = Channel::kCollective, .seq = 1, .op = {.kind = 2, .dtype = 0}};
  EXPECT_EQ(send_problem(1, p2p, 0, 3), "");
  EXPECT_THAT(send_problem(0, p2p, 0, 3), HasSubstr("peers are 0..2 other than itself"));
  EXPECT_THAT(send_problem(3, p2p, 0, 3), HasSubstr("other than itself"));
  EXPECT_THAT(send_problem(kAnySource, p2p, 0, 3), HasSubstr("other than itself"));
  Envelope bad_seq = p2p;
  bad_seq.seq = 7;
  EXPECT_THAT(send_problem(1, bad_seq, 0, 3), HasSubstr("invalid envelope"));
  EXPECT_EQ(receive_problem(kAnySource, p2p, 0, 3), "");
  EXPECT_THAT(receive_problem(kAnySource, coll, 0, 3), HasSubstr("must name its peer"));
  EXPECT_THAT(receive_problem(kAnySource, p2p, 0, 1), HasSubstr("group has one rank"));
  EXPECT_THAT(receive_problem(2, coll, 2, 3), HasSubstr("other than itself"));
  EXPECT_EQ(receive_problem(1, coll, 2, 3), "");
}

TEST(FrameTest, ErrorsKeepTheirCodeAcrossTheWire) {
  const auto e = make_error(ErrorCode::kMismatch, "rank 0 runs x");
  EXPECT_EQ(baton::error_code(e), ErrorCode::kMismatch);
  EXPECT_EQ(baton::error_message(e), "rank 0 runs x");
  EXPECT_THROW(std::rethrow_exception(e), MismatchError);
  EXPECT_THROW(std::rethrow_exception(make_error(ErrorCode::kConnection, "x")), ConnectionError);
  EXPECT_EQ(baton::error_code(std::make_exception_ptr(std::runtime_error("x"))),
            ErrorCode::kInternal);
}

// ---------------------------------------------------------------- hello

namespace tcp_hello = baton::transport::tcp;

TEST(HelloTest, RoundTripsAndComparesEveryField) {
  tcp_hello::Hello h{.token = 0xdeadbeefcafef00dull,
                     .group_hash = tcp_hello::fnv1a64("world"),
                     .from_rank = 3,
                     .to_rank = 1,
                     .world_size = 5,
                     .job_id = "0123456789abcdef"};
  const auto bytes = tcp_hello::encode_hello(h);
  std::string why;
  const auto back = tcp_hello::decode_hello(bytes, &why);
  ASSERT_TRUE(back) << why;
  EXPECT_EQ(back->token, h.token);
  EXPECT_EQ(back->group_hash, h.group_hash);
  EXPECT_EQ(back->from_rank, 3);
  EXPECT_EQ(back->to_rank, 1);
  EXPECT_EQ(back->world_size, 5);
  EXPECT_EQ(back->job_id, h.job_id);
  std::string same;
  EXPECT_EQ(tcp_hello::hello_mismatch(*back, h, &same), tcp_hello::Refusal::kNone) << same;

  auto differs = [&](auto change) {
    tcp_hello::Hello other = h;
    change(other);
    std::string why;
    EXPECT_NE(tcp_hello::hello_mismatch(other, h, &why), tcp_hello::Refusal::kNone);
    return why;
  };
  EXPECT_THAT(differs([](auto& o) { o.job_id = "other"; }), HasSubstr("job id 'other'"));
  EXPECT_THAT(differs([](auto& o) { o.group_hash = 1; }), HasSubstr("group key hash"));
  EXPECT_THAT(differs([](auto& o) { o.token = 1; }), HasSubstr("group token"));
  EXPECT_THAT(differs([](auto& o) { o.world_size = 4; }), HasSubstr("world size 4"));
  EXPECT_THAT(differs([](auto& o) { o.to_rank = 2; }), HasSubstr("destination rank 2"));
}

TEST(HelloTest, RejectsNonHelloBytes) {
  tcp_hello::HelloBytes bytes{};
  std::memcpy(bytes.data(), "GET /metrics HTTP/1.1\r\n", 23);
  std::string why;
  EXPECT_FALSE(tcp_hello::decode_hello(bytes, &why));
  EXPECT_THAT(why, HasSubstr("bad magic \"GET \""));
  tcp_hello::HelloBytes v2 = tcp_hello::encode_hello({});
  v2[4] = std::byte{3};
  EXPECT_FALSE(tcp_hello::decode_hello(v2, &why));
  EXPECT_THAT(why, HasSubstr("handshake version 3"));
}

TEST(HelloTest, LongJobIdsAreHashed) {
  const std::string long_id(100, 'x');
  EXPECT_THAT(tcp_hello::job_id_field(long_id), HasSubstr("fnv1a:"));
  EXPECT_LE(tcp_hello::job_id_field(long_id).size(), tcp_hello::kJobIdBytes);
  tcp_hello::Hello h;
  h.job_id = long_id;
  std::string why;
  const auto back = tcp_hello::decode_hello(tcp_hello::encode_hello(h), &why);
  ASSERT_TRUE(back);
  EXPECT_EQ(tcp_hello::hello_mismatch(*back, h, &why), tcp_hello::Refusal::kNone) << why;
}

}  // namespace
}  // namespace baton::transport
