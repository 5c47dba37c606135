// The loopback test transport follows transport.hpp's matching rules: p2p
// FIFO per (source, tag), ANY_SOURCE, size checks, collective matching by
// (source, seq, tag) with OpDesc mismatch detection, rendezvous and eager
// sends, abort and close.
#include "tests/support/loopback_context.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include "baton/dtype.hpp"
#include "baton/error.hpp"
#include "collectives/op_kind.hpp"

namespace baton::testing {
namespace {

using transport::Channel;
using transport::Envelope;
using transport::RequestPtr;

constexpr auto kWait = std::chrono::seconds(10);

bool finished(const RequestPtr& r) {
  return r->wait_until(transport::Request::Clock::now() + kWait);
}

Envelope p2p(int64_t tag) {
  return {.channel = Channel::kP2P, .seq = 0, .tag = tag, .op = {}};
}

Envelope coll(uint64_t seq, int64_t tag, collectives::OpKind kind, uint64_t count = 1) {
  return {.channel = Channel::kCollective,
          .seq = seq,
          .tag = tag,
          .op = {.kind = static_cast<uint8_t>(kind),
                 .dtype = static_cast<uint8_t>(DType::Int32),
                 .reduce_op = 0,
                 .root = -1,
                 .count = count}};
}

std::span<const std::byte> as_bytes(const int& v) {
  return {reinterpret_cast<const std::byte*>(&v), sizeof v};
}
std::span<std::byte> as_writable(int& v) {
  return {reinterpret_cast<std::byte*>(&v), sizeof v};
}

template <class E>
std::string error_of(const RequestPtr& r) {
  EXPECT_TRUE(finished(r));
  try {
    if (auto e = r->error()) std::rethrow_exception(e);
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unexpected error type: " << e.what();
    return {};
  }
  ADD_FAILURE() << "the request succeeded";
  return {};
}

TEST(LoopbackContextTest, PointToPointIsFifoPerSourceAndTag) {
  auto group = make_loopback_group(2, {.eager_bytes = 64});
  const int values[] = {10, 11, 12, 99};
  std::vector<RequestPtr> sends;
  for (int i = 0; i < 3; ++i) sends.push_back(group[0]->isend(1, p2p(5), as_bytes(values[i])));
  sends.push_back(group[0]->isend(1, p2p(6), as_bytes(values[3])));
  for (auto& s : sends) EXPECT_TRUE(s->done()) << "eager sends complete at once";
  int got = 0;
  auto r6 = group[1]->irecv(0, p2p(6), as_writable(got));
  ASSERT_TRUE(finished(r6));
  EXPECT_EQ(got, 99);
  for (int i = 0; i < 3; ++i) {
    auto r = group[1]->irecv(0, p2p(5), as_writable(got));
    ASSERT_TRUE(finished(r));
    EXPECT_EQ(r->error(), nullptr);
    EXPECT_EQ(got, 10 + i) << "message " << i << " of tag 5 overtaken";
    EXPECT_EQ(r->source(), 0);
    EXPECT_EQ(r->bytes(), sizeof(int));
  }
}

TEST(LoopbackContextTest, AnySourceTakesTheOldestAndReportsItsSource) {
  auto group = make_loopback_group(3);
  const int a = 1, b = 2;
  int x = 0, y = 0;
  auto first = group[0]->irecv(transport::kAnySource, p2p(0), as_writable(x));
  auto s2 = group[2]->isend(0, p2p(0), as_bytes(b));
  auto s1 = group[1]->isend(0, p2p(0), as_bytes(a));
  auto second = group[0]->irecv(transport::kAnySource, p2p(0), as_writable(y));
  ASSERT_TRUE(finished(first) && finished(second) && finished(s1) && finished(s2));
  EXPECT_EQ(first->source(), 2);
  EXPECT_EQ(x, 2);
  EXPECT_EQ(second->source(), 1);
  EXPECT_EQ(y, 1);
}

TEST(LoopbackContextTest, RendezvousSendCompletesOnlyWhenReceived) {
  auto group = make_loopback_group(2);
  const int v = 7;
  int got = 0;
  auto send = group[0]->isend(1, p2p(1), as_bytes(v));
  EXPECT_FALSE(send->done());
  auto recv = group[1]->irecv(0, p2p(1), as_writable(got));
  ASSERT_TRUE(finished(send) && finished(recv));
  EXPECT_EQ(got, 7);
  EXPECT_EQ(send->source(), 1);
}

TEST(LoopbackContextTest, TooSmallReceiveIsAnErrorNamingBothSizes) {
  auto group = make_loopback_group(2);
  std::byte big[16] = {};
  std::byte small[8] = {};
  auto send = group[0]->isend(1, p2p(3), big);
  auto recv = group[1]->irecv(0, p2p(3), small);
  const std::string what = error_of<InvalidArgument>(recv);
  EXPECT_NE(what.find("16"), std::string::npos) << what;
  EXPECT_NE(what.find("8 bytes"), std::string::npos) << what;
  // A shorter message completes the receive with its length.
  auto short_send = group[0]->isend(1, p2p(4), std::span<const std::byte>(big, 4));
  auto short_recv = group[1]->irecv(0, p2p(4), small);
  ASSERT_TRUE(finished(short_recv));
  EXPECT_EQ(short_recv->error(), nullptr);
  EXPECT_EQ(short_recv->bytes(), 4u);
}

TEST(LoopbackContextTest, CollectiveMessagesMatchBySeqAndTag) {
  auto group = make_loopback_group(2, {.eager_bytes = 64});
  const int v1 = 1, v2 = 2;
  int got1 = 0, got2 = 0;
  group[0]->isend(1, coll(8, 1, collectives::OpKind::kAllReduce), as_bytes(v2));
  group[0]->isend(1, coll(7, 1, collectives::OpKind::kBarrier), as_bytes(v1));
  auto r1 = group[1]->irecv(0, coll(7, 1, collectives::OpKind::kBarrier), as_writable(got1));
  auto r2 = group[1]->irecv(0, coll(8, 1, collectives::OpKind::kAllReduce), as_writable(got2));
  ASSERT_TRUE(finished(r1) && finished(r2));
  EXPECT_EQ(got1, 1);
  EXPECT_EQ(got2, 2);
}

TEST(LoopbackContextTest, DisagreeingOpDescIsAMismatchEitherWay) {
  auto group = make_loopback_group(2, {.eager_bytes = 64});
  const int v = 1;
  int got = 0;
  // Receive posted first.
  auto early = group[1]->irecv(0, coll(3, 0, collectives::OpKind::kAllReduce), as_writable(got));
  group[0]->isend(1, coll(3, 5, collectives::OpKind::kBroadcast), as_bytes(v));
  std::string what = error_of<MismatchError>(early);
  EXPECT_NE(what.find("all_reduce"), std::string::npos) << what;
  EXPECT_NE(what.find("broadcast"), std::string::npos) << what;
  EXPECT_NE(what.find("rank 0"), std::string::npos) << what;
  EXPECT_NE(what.find("rank 1"), std::string::npos) << what;
  // Message first, and a different count.
  group[0]->isend(1, coll(4, 5, collectives::OpKind::kBroadcast, 1), as_bytes(v));
  auto late = group[1]->irecv(0, coll(4, 9, collectives::OpKind::kBroadcast, 2), as_writable(got));
  what = error_of<MismatchError>(late);
  EXPECT_NE(what.find("x 2"), std::string::npos) << what;
  EXPECT_NE(what.find("x 1"), std::string::npos) << what;
  // Another peer's message for the same operation number is not compared
  // (as in the real transports' matcher): it waits for its own receive.
  auto group3 = make_loopback_group(3, {.eager_bytes = 64});
  auto pending = group3[1]->irecv(0, coll(5, 0, collectives::OpKind::kAllReduce), as_writable(got));
  group3[2]->isend(1, coll(5, 0, collectives::OpKind::kBarrier), as_bytes(v));
  EXPECT_FALSE(pending->done());
  group3[0]->isend(1, coll(5, 0, collectives::OpKind::kAllReduce), as_bytes(v));
  ASSERT_TRUE(finished(pending));
  EXPECT_EQ(pending->error(), nullptr);
}

TEST(LoopbackContextTest, CollectiveLengthMustEqualTheBuffer) {
  auto group = make_loopback_group(2);
  std::byte buf[8] = {};
  std::byte out[4] = {};
  auto send = group[0]->isend(1, coll(1, 0, collectives::OpKind::kAllReduce), buf);
  auto recv = group[1]->irecv(0, coll(1, 0, collectives::OpKind::kAllReduce), out);
  const std::string what = error_of<MismatchError>(recv);
  EXPECT_NE(what.find("8 bytes"), std::string::npos) << what;
}

TEST(LoopbackContextTest, AbortFailsOwnAndPeersRequestsWithTheReason) {
  auto group = make_loopback_group(3);
  int got = 0;
  const int v = 3;
  auto peer_recv = group[1]->irecv(0, p2p(0), as_writable(got));
  auto unrelated = group[1]->irecv(2, p2p(0), as_writable(got));
  auto any = group[2]->irecv(transport::kAnySource, p2p(9), as_writable(got));
  auto own_recv = group[0]->irecv(2, p2p(0), as_writable(got));
  group[0]->abort(std::make_exception_ptr(MismatchError("the reason")));
  EXPECT_EQ(error_of<MismatchError>(peer_recv), "the reason");
  EXPECT_EQ(error_of<MismatchError>(own_recv), "the reason");
  EXPECT_EQ(error_of<MismatchError>(any), "the reason") << "ANY_SOURCE may have waited for rank 0";
  EXPECT_FALSE(unrelated->done()) << "a request not involving the aborted rank stays pending";
  EXPECT_EQ(error_of<MismatchError>(group[0]->isend(1, p2p(0), as_bytes(v))), "the reason");
  EXPECT_EQ(error_of<MismatchError>(group[2]->isend(0, p2p(0), as_bytes(v))), "the reason");
  auto done = group[2]->isend(1, p2p(0), as_bytes(v));
  ASSERT_TRUE(finished(unrelated) && finished(done));
  EXPECT_EQ(unrelated->error(), nullptr);
}

TEST(LoopbackContextTest, ClosingFailsPeersWithConnectionErrorNamingTheRank) {
  auto group = make_loopback_group(2);
  int got = 0;
  auto recv = group[0]->irecv(1, coll(0, 0, collectives::OpKind::kBarrier), as_writable(got));
  group[1].reset();
  const std::string what = error_of<ConnectionError>(recv);
  EXPECT_NE(what.find("rank 1"), std::string::npos) << what;
  const int v = 0;
  EXPECT_NE(error_of<ConnectionError>(group[0]->isend(1, p2p(0), as_bytes(v))).find("rank 1"),
            std::string::npos);
}

}  // namespace
}  // namespace baton::testing
