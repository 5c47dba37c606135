// Matcher: the matching, buffering and failure rules of transport.hpp, on
// one thread, without sockets.
#include "transport/matcher.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "baton/error.hpp"

namespace baton::transport {
namespace {

using ::testing::HasSubstr;

std::string fake_describe(const OpDesc& op, uint64_t seq) {
  return "op" + std::to_string(op.kind) + " #" + std::to_string(seq) + " (" +
         std::to_string(op.count) + " elements)";
}

Envelope p2p(int64_t tag) {
  Envelope e;
  e.tag = tag;
  return e;
}

Envelope coll(uint64_t seq, int64_t tag, uint8_t kind = 2, uint64_t count = 10) {
  Envelope e;
  e.channel = Channel::kCollective;
  e.seq = seq;
  e.tag = tag;
  e.op.kind = kind;
  e.op.count = count;
  return e;
}

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

template <class E>
std::string error_of(const RequestPtr& r) {
  EXPECT_TRUE(r->done());
  if (!r->error()) return "<no error>";
  try {
    std::rethrow_exception(r->error());
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<wrong type> ") + e.what();
  }
}

class MatcherTest : public ::testing::Test {
 protected:
  explicit MatcherTest(size_t limit = 1 << 20)
      : matcher_(MatcherOptions{.rank = 0,
                                .size = 4,
                                .unexpected_limit = limit,
                                .describe_op = fake_describe,
                                .on_space = [this] { ++space_calls_; },
                                .on_divergence = nullptr}) {}

  // Simulates the progress thread receiving a whole message.
  Delivery arrive(int source, const Envelope& e, const std::vector<std::byte>& payload) {
    Delivery d = matcher_.on_header(source, e, payload.size());
    if (d.kind == Delivery::Kind::kDirect || d.kind == Delivery::Kind::kBuffered) {
      if (!payload.empty()) std::memcpy(d.target.data(), payload.data(), payload.size());
      matcher_.on_payload(d);
    }
    return d;
  }
  RequestPtr post(int peer, const Envelope& e, std::vector<std::byte>& buffer) {
    auto r = std::make_shared<Request>();
    matcher_.post(peer, e, buffer, r);
    return r;
  }

  Matcher matcher_;
  int space_calls_ = 0;
};

TEST_F(MatcherTest, PostedReceiveGetsThePayloadInItsOwnBuffer) {
  std::vector<std::byte> buffer(8);
  auto r = post(1, p2p(5), buffer);
  EXPECT_FALSE(r->done());
  Delivery d = matcher_.on_header(1, p2p(5), 3);
  ASSERT_EQ(d.kind, Delivery::Kind::kDirect);
  EXPECT_EQ(d.target.data(), buffer.data());  // zero copy: straight into the user's buffer
  EXPECT_EQ(d.target.size(), 3u);
  matcher_.on_payload(d);
  ASSERT_TRUE(r->done());
  EXPECT_FALSE(r->error());
  EXPECT_EQ(r->source(), 1);
  EXPECT_EQ(r->bytes(), 3u);  // shorter than the buffer: completes with its own length
}

TEST_F(MatcherTest, EarlyMessageIsBufferedThenCopiedOnPost) {
  const Delivery d = arrive(2, p2p(0), bytes_of({1, 2, 3}));
  EXPECT_EQ(d.kind, Delivery::Kind::kBuffered);
  EXPECT_EQ(matcher_.unexpected_bytes(), 3u);
  std::vector<std::byte> buffer(3);
  auto r = post(2, p2p(0), buffer);
  ASSERT_TRUE(r->done());  // completed inline
  EXPECT_EQ(buffer, bytes_of({1, 2, 3}));
  EXPECT_EQ(matcher_.unexpected_bytes(), 0u);
}

TEST_F(MatcherTest, ReceivePostedWhilePayloadArrivesCompletesWhenItEnds) {
  Delivery d = matcher_.on_header(1, p2p(0), 2);
  ASSERT_EQ(d.kind, Delivery::Kind::kBuffered);
  std::vector<std::byte> buffer(2);
  auto r = post(1, p2p(0), buffer);
  EXPECT_FALSE(r->done());
  std::memcpy(d.target.data(), bytes_of({7, 8}).data(), 2);
  matcher_.on_payload(d);
  ASSERT_TRUE(r->done());
  EXPECT_EQ(buffer, bytes_of({7, 8}));
  EXPECT_EQ(matcher_.unexpected_bytes(), 0u);
}

TEST_F(MatcherTest, SameTagKeepsOrderAndTagsAreSeparate) {
  arrive(1, p2p(1), bytes_of({10}));
  arrive(1, p2p(2), bytes_of({20}));
  arrive(1, p2p(1), bytes_of({11}));
  std::vector<std::byte> a(1), b(1), c(1);
  post(1, p2p(2), a);
  post(1, p2p(1), b);
  post(1, p2p(1), c);
  EXPECT_EQ(a, bytes_of({20}));
  EXPECT_EQ(b, bytes_of({10}));
  EXPECT_EQ(c, bytes_of({11}));
}

TEST_F(MatcherTest, AnySourceTakesTheOldestMessageAndReportsItsSource) {
  arrive(3, p2p(0), bytes_of({3}));
  arrive(1, p2p(0), bytes_of({1}));
  std::vector<std::byte> a(1), b(1);
  auto ra = post(kAnySource, p2p(0), a);
  auto rb = post(kAnySource, p2p(0), b);
  EXPECT_EQ(ra->source(), 3);
  EXPECT_EQ(rb->source(), 1);
}

TEST_F(MatcherTest, ArrivingMessageMatchesTheFirstPostedReceive) {
  std::vector<std::byte> any(1), from1(1);
  auto r_any = post(kAnySource, p2p(0), any);
  auto r_1 = post(1, p2p(0), from1);
  arrive(1, p2p(0), bytes_of({5}));
  EXPECT_TRUE(r_any->done());
  EXPECT_FALSE(r_1->done());
  arrive(1, p2p(0), bytes_of({6}));
  EXPECT_TRUE(r_1->done());
  EXPECT_EQ(from1, bytes_of({6}));
}

TEST_F(MatcherTest, TooLongMessageFailsTheReceiveNamingBothSizes) {
  std::vector<std::byte> small(1000);
  auto r = post(1, p2p(3), small);
  const Delivery d = matcher_.on_header(1, p2p(3), 4000);
  EXPECT_EQ(d.kind, Delivery::Kind::kDiscard);  // the payload is read and dropped
  const std::string what = error_of<MismatchError>(r);
  EXPECT_THAT(what, HasSubstr("4000 bytes"));
  EXPECT_THAT(what, HasSubstr("holds 1000 bytes"));
  EXPECT_THAT(what, HasSubstr("rank 1"));
  // Same rule for a message that was buffered first; it is consumed.
  arrive(2, p2p(3), std::vector<std::byte>(9));
  std::vector<std::byte> tiny(4);
  EXPECT_THAT(error_of<MismatchError>(post(2, p2p(3), tiny)), HasSubstr("9 bytes"));
  EXPECT_EQ(matcher_.unexpected_bytes(), 0u);
}

TEST_F(MatcherTest, CollectivesMatchBySeqAndTag) {
  arrive(1, coll(6, 0), bytes_of({60}));
  arrive(1, coll(5, 1), bytes_of({51}));
  arrive(1, coll(5, 0), bytes_of({50}));
  std::vector<std::byte> a(1), b(1), c(1);
  post(1, coll(5, 0), a);
  post(1, coll(5, 1), b);
  post(1, coll(6, 0), c);
  EXPECT_EQ(a, bytes_of({50}));
  EXPECT_EQ(b, bytes_of({51}));
  EXPECT_EQ(c, bytes_of({60}));
}

TEST_F(MatcherTest, CollectiveMismatchWhenTheReceiveCameFirst) {
  std::vector<std::byte> buffer(40);
  auto r = post(1, coll(3, 0, /*kind=*/2, 1000), buffer);
  const Delivery d = matcher_.on_header(1, coll(3, 7, /*kind=*/1, 1000), 40);
  EXPECT_EQ(d.kind, Delivery::Kind::kDiscard);
  EXPECT_EQ(error_of<MismatchError>(r),
            "rank 0 runs op2 #3 (1000 elements) but rank 1 sent op1 #3 (1000 elements)");
}

TEST_F(MatcherTest, CollectiveMismatchWhenTheMessageCameFirst) {
  arrive(2, coll(4, 0, 2, 10), std::vector<std::byte>(40));
  std::vector<std::byte> buffer(40);
  auto r = post(2, coll(4, 0, 2, 11), buffer);
  EXPECT_EQ(error_of<MismatchError>(r),
            "rank 0 runs op2 #4 (11 elements) but rank 2 sent op2 #4 (10 elements)");
}

TEST_F(MatcherTest, CollectiveLengthMustFillTheBuffer) {
  std::vector<std::byte> buffer(40);
  auto r = post(1, coll(3, 2), buffer);
  matcher_.on_header(1, coll(3, 2), 80);
  const std::string what = error_of<MismatchError>(r);
  EXPECT_THAT(what, HasSubstr("expected 40 bytes from rank 1 in step 2 of op2 #3"));
  EXPECT_THAT(what, HasSubstr("sent 80 bytes"));
}

class BoundedMatcherTest : public MatcherTest {
 protected:
  BoundedMatcherTest() : MatcherTest(100) {}
};

TEST_F(BoundedMatcherTest, BeyondTheBoundTheMessageWaitsForItsReceive) {
  EXPECT_EQ(arrive(1, p2p(1), std::vector<std::byte>(60)).kind, Delivery::Kind::kBuffered);
  // 60 + 60 > 100: the second message must wait (the transport stops reading).
  EXPECT_EQ(matcher_.on_header(1, p2p(2), 60).kind, Delivery::Kind::kWait);
  EXPECT_EQ(space_calls_, 0);
  std::vector<std::byte> buffer(60);
  auto r = post(1, p2p(2), buffer);
  EXPECT_EQ(space_calls_, 1);  // the transport asks again
  Delivery d = matcher_.on_header(1, p2p(2), 60);
  ASSERT_EQ(d.kind, Delivery::Kind::kDirect);
  EXPECT_EQ(d.target.data(), buffer.data());
  matcher_.on_payload(d);
  EXPECT_TRUE(r->done());
}

TEST_F(BoundedMatcherTest, ReleasingBufferedBytesLetsAWaitingMessageIn) {
  arrive(1, p2p(1), std::vector<std::byte>(60));
  EXPECT_EQ(matcher_.on_header(2, p2p(9), 60).kind, Delivery::Kind::kWait);
  std::vector<std::byte> buffer(60);
  post(1, p2p(1), buffer);  // consumes the buffered message
  EXPECT_EQ(space_calls_, 1);
  EXPECT_EQ(matcher_.on_header(2, p2p(9), 60).kind, Delivery::Kind::kBuffered);
}

TEST_F(BoundedMatcherTest, MessageLargerThanTheWholeBoundLandsInItsReceive) {
  EXPECT_EQ(matcher_.on_header(1, p2p(1), 1000).kind, Delivery::Kind::kWait);
  std::vector<std::byte> buffer(1000);
  post(1, p2p(1), buffer);
  EXPECT_EQ(matcher_.on_header(1, p2p(1), 1000).kind, Delivery::Kind::kDirect);
}

TEST_F(MatcherTest, PeerFailureFailsItsReceivesAndAnySource) {
  std::vector<std::byte> b1(1), b2(1), any(1);
  auto r1 = post(1, p2p(0), b1);
  auto r2 = post(2, p2p(0), b2);
  auto ra = post(kAnySource, p2p(0), any);
  arrive(1, p2p(7), bytes_of({42}));  // complete before the failure: still receivable
  matcher_.fail_peer(1, std::make_exception_ptr(ConnectionError("rank 1 closed its connection")));
  EXPECT_THAT(error_of<ConnectionError>(r1), HasSubstr("rank 1 closed"));
  EXPECT_THAT(error_of<ConnectionError>(ra), HasSubstr("rank 1 closed"));
  EXPECT_FALSE(r2->done());
  std::vector<std::byte> late(1);
  auto r_late = post(1, p2p(7), late);
  EXPECT_FALSE(r_late->error());
  EXPECT_EQ(late, bytes_of({42}));
  EXPECT_THAT(error_of<ConnectionError>(post(1, p2p(0), late)), HasSubstr("rank 1 closed"));
  EXPECT_THAT(error_of<ConnectionError>(post(kAnySource, p2p(0), late)), HasSubstr("rank 1"));
  EXPECT_TRUE(matcher_.send_error(1));
  EXPECT_FALSE(matcher_.send_error(2));
}

TEST_F(MatcherTest, FailAllIsSticky) {
  std::vector<std::byte> b(4);
  auto r = post(1, p2p(0), b);
  Delivery in_flight = matcher_.on_header(2, p2p(0), 4);
  std::vector<std::byte> attached_buffer(4);
  auto attached = post(2, p2p(0), attached_buffer);
  matcher_.fail_all(std::make_exception_ptr(MismatchError("boom")));
  EXPECT_EQ(error_of<MismatchError>(r), "boom");
  EXPECT_EQ(error_of<MismatchError>(attached), "boom");
  EXPECT_EQ(error_of<MismatchError>(post(3, p2p(0), b)), "boom");
  EXPECT_EQ(matcher_.on_header(1, p2p(0), 4).kind, Delivery::Kind::kDiscard);
  matcher_.on_payload(in_flight);  // the progress thread finishing it late is harmless
  EXPECT_EQ(matcher_.unexpected_bytes(), 0u);
}

TEST_F(MatcherTest, DropFailsTheReceiveWaitingForThePayload) {
  std::vector<std::byte> b(4);
  auto r = post(1, p2p(0), b);
  Delivery d = matcher_.on_header(1, p2p(0), 4);
  matcher_.drop(d, std::make_exception_ptr(ConnectionError("gone")));
  EXPECT_EQ(error_of<ConnectionError>(r), "gone");

  Delivery buffered = matcher_.on_header(2, p2p(0), 4);
  auto waiting = post(2, p2p(0), b);
  matcher_.drop(buffered, std::make_exception_ptr(ConnectionError("gone too")));
  EXPECT_EQ(error_of<ConnectionError>(waiting), "gone too");
  EXPECT_EQ(matcher_.unexpected_bytes(), 0u);
}

// Agreement (begin_op): divergence from any peer aborts the group through
// on_divergence, once, with both operations named.
class AgreementTest : public ::testing::Test {
 protected:
  AgreementTest()
      : matcher_(MatcherOptions{.rank = 0,
                                .size = 4,
                                .describe_op = fake_describe,
                                .on_space = nullptr,
                                .on_divergence = [this](std::exception_ptr e) {
                                  ++calls_;
                                  try {
                                    std::rethrow_exception(e);
                                  } catch (const MismatchError& m) {
                                    what_ = m.what();
                                  } catch (const std::exception& other) {
                                    what_ = std::string("<wrong type> ") + other.what();
                                  }
                                }}) {}
  Delivery arrive(int source, const Envelope& e, size_t length = 0) {
    Delivery d = matcher_.on_header(source, e, length);
    if (d.kind == Delivery::Kind::kBuffered || d.kind == Delivery::Kind::kDirect) {
      matcher_.on_payload(d);
    }
    return d;
  }
  static Envelope probe(uint64_t seq, uint8_t kind, uint64_t count) {
    return coll(seq, kProbeTag, kind, count);
  }
  Matcher matcher_;
  int calls_ = 0;
  std::string what_;
};

TEST_F(AgreementTest, MessageOfTheCurrentOpFromAnotherPeerWithAnotherDescription) {
  matcher_.begin_op(5, coll(5, 0, 2, 10).op);
  std::vector<std::byte> buffer(40);
  auto r = std::make_shared<Request>();
  matcher_.post(1, coll(5, 0, 2, 10), buffer, r);  // waits for rank 1; rank 3 disagrees
  EXPECT_EQ(arrive(3, coll(5, 2, 1, 10), 40).kind, Delivery::Kind::kDiscard);
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(what_, "rank 0 runs op2 #5 (10 elements) but rank 3 sent op1 #5 (10 elements)");
}

TEST_F(AgreementTest, MessageOfAFinishedOpIsADivergence) {
  matcher_.begin_op(1, coll(1, 0, 2, 10).op);
  matcher_.begin_op(2, coll(2, 0, 2, 10).op);
  // Same description, but rank 1 sends for operation 1, which this rank finished.
  arrive(1, coll(1, 4, 2, 10), 40);
  EXPECT_EQ(calls_, 1);
  EXPECT_THAT(what_, HasSubstr("rank 1 sent step 4 of op2 #1 (10 elements) which rank 0 never"));
}

TEST_F(AgreementTest, AFinishedOpDescribedOtherwiseNamesWhatThisRankRan) {
  matcher_.begin_op(1, coll(1, 0, 1, 10).op);
  matcher_.begin_op(2, coll(2, 0, 2, 10).op);
  arrive(2, coll(1, 0, 1, 12), 48);
  EXPECT_EQ(what_, "rank 0 ran op1 #1 (10 elements) but rank 2 sent op1 #1 (12 elements)");
}

TEST_F(AgreementTest, LeftoverMessageFailsTheNextOp) {
  matcher_.begin_op(1, coll(1, 0, 2, 10).op);
  arrive(3, coll(1, 9, 2, 10), 40);  // buffered: it may still be received
  EXPECT_EQ(calls_, 0);
  matcher_.begin_op(2, coll(2, 0, 2, 10).op);  // but operation 1 ended without it
  EXPECT_EQ(calls_, 1);
  EXPECT_THAT(what_, HasSubstr("rank 3 sent step 9 of op2 #1"));
}

TEST_F(AgreementTest, EarlyMessageDescribedOtherwiseFailsTheOpWhenItBegins) {
  arrive(2, coll(7, 0, 4, 3), 12);
  matcher_.begin_op(7, coll(7, 0, 4, 4).op);
  EXPECT_EQ(what_, "rank 0 runs op4 #7 (4 elements) but rank 2 sent op4 #7 (3 elements)");
}

TEST_F(AgreementTest, ProbesAreComparedNowOrWhenTheOpBegins) {
  matcher_.begin_op(3, coll(3, 0, 2, 10).op);
  // Agreeing probes, for now and for later, are consumed silently.
  EXPECT_EQ(arrive(1, probe(3, 2, 10)).kind, Delivery::Kind::kDiscard);
  EXPECT_EQ(arrive(1, probe(4, 2, 10)).kind, Delivery::Kind::kDiscard);
  EXPECT_EQ(matcher_.unexpected_bytes(), 0u);
  matcher_.begin_op(4, coll(4, 0, 2, 10).op);
  EXPECT_EQ(calls_, 0);
  // One for an operation not reached yet that describes it otherwise.
  arrive(2, probe(5, 9, 10));
  EXPECT_EQ(calls_, 0);
  matcher_.begin_op(5, coll(5, 0, 2, 10).op);
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(what_, "rank 0 runs op2 #5 (10 elements) but rank 2 runs op9 #5 (10 elements)");
}

TEST_F(AgreementTest, ProbeOfAPastOpComparesWithTheHistoryAndIsReportedOnce) {
  matcher_.begin_op(1, coll(1, 0, 2, 10).op);
  matcher_.begin_op(2, coll(2, 0, 2, 10).op);
  arrive(1, probe(1, 2, 10));  // rank 1 is behind and agrees
  EXPECT_EQ(calls_, 0);
  arrive(3, probe(1, 2, 11));
  arrive(2, probe(2, 3, 10));
  EXPECT_EQ(calls_, 1);  // the first divergence only
  EXPECT_EQ(what_, "rank 0 ran op2 #1 (10 elements) but rank 3 runs op2 #1 (11 elements)");
}

TEST_F(AgreementTest, AlgorithmIsPartOfTheDescription) {
  Envelope ring = coll(1, 0, 2, 10);
  ring.op.algorithm = 1;
  Envelope tree = ring;
  tree.op.algorithm = 2;
  matcher_.begin_op(1, ring.op);
  arrive(1, tree, 40);
  EXPECT_EQ(calls_, 1);
}

TEST(AgreementDefaultTest, WithoutACallbackTheMatcherFailsEverything) {
  Matcher matcher(MatcherOptions{.rank = 0,
                                 .size = 2,
                                 .describe_op = fake_describe,
                                 .on_space = nullptr,
                                 .on_divergence = nullptr});
  matcher.begin_op(1, coll(1, 0, 2, 10).op);
  std::vector<std::byte> buffer(4);
  auto r = std::make_shared<Request>();
  matcher.post(1, p2p(0), buffer, r);
  matcher.on_header(1, coll(1, 0, 3, 10), 0);
  EXPECT_THAT(error_of<MismatchError>(r), HasSubstr("rank 0 runs op2 #1"));
  EXPECT_NE(matcher.context_error(), nullptr);
}

TEST(DescribeOpRawTest, PrintsTheRawFields) {
  OpDesc op{.kind = 2, .dtype = 0, .reduce_op = 0, .root = -1, .count = 1000};
  EXPECT_EQ(describe_op_raw(op, 3),
            "operation kind 2 #3 (float32, 1000 elements, reduce op 0, root -1)");
}

}  // namespace
}  // namespace baton::transport
