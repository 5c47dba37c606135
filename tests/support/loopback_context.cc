// In-process transport for tests: one switchboard, one Context per rank.
#include "tests/support/loopback_context.hpp"

#include <cstring>
#include <list>
#include <mutex>
#include <utility>

#include "baton/dtype.hpp"
#include "baton/error.hpp"
#include "baton/reduce_op.hpp"
#include "collectives/op_kind.hpp"

namespace baton::testing {
namespace {

using transport::Channel;
using transport::Envelope;
using transport::Request;
using transport::RequestPtr;

bool is_reduction(uint8_t kind) {
  const auto k = static_cast<collectives::OpKind>(kind);
  return k == collectives::OpKind::kAllReduce || k == collectives::OpKind::kReduce ||
         k == collectives::OpKind::kReduceScatter;
}

std::exception_ptr error_ptr(auto error) {
  return std::make_exception_ptr(std::move(error));
}

struct PostedRecv {
  int peer;  // kAnySource allowed on the p2p channel
  Envelope envelope;
  std::span<std::byte> buffer;
  RequestPtr request;
};

struct Message {
  int source;
  Envelope envelope;
  std::vector<std::byte> copy;      // eager: the payload, copied
  std::span<const std::byte> held;  // rendezvous: the sender's buffer
  bool eager = false;
  RequestPtr send;  // rendezvous: completes when a receive takes the message
  std::span<const std::byte> payload() const {
    return eager ? std::span<const std::byte>(copy) : held;
  }
};

struct Endpoint {
  std::list<PostedRecv> posted;   // in posting order
  std::list<Message> unexpected;  // in arrival order
  std::exception_ptr down;        // set once the rank aborted or closed
};

bool matches(const PostedRecv& recv, const Message& msg) {
  if (recv.envelope.channel != msg.envelope.channel) return false;
  if (recv.envelope.channel == Channel::kP2P) {
    return (recv.peer == transport::kAnySource || recv.peer == msg.source) &&
           recv.envelope.tag == msg.envelope.tag;
  }
  return recv.peer == msg.source && recv.envelope.seq == msg.envelope.seq &&
         recv.envelope.tag == msg.envelope.tag;
}

// A collective message that belongs to the same operation as a receive but
// describes it differently.
bool disagrees(const Envelope& recv, const Envelope& msg) {
  return recv.channel == Channel::kCollective && msg.channel == Channel::kCollective &&
         recv.seq == msg.seq && !(recv.op == msg.op);
}

class Hub {
 public:
  Hub(int size, LoopbackOptions options)
      : options_(options), endpoints_(static_cast<size_t>(size)) {}

  int size() const { return static_cast<int>(endpoints_.size()); }

  RequestPtr isend(int self, int peer, const Envelope& envelope,
                   std::span<const std::byte> payload) {
    auto request = std::make_shared<Request>();
    std::lock_guard lock(mu_);
    if (peer < 0 || peer >= size()) {
      request->fail(error_ptr(InvalidArgument("loopback: rank " + std::to_string(self) +
                                              " sends to rank " + std::to_string(peer) +
                                              ", outside the group of " + std::to_string(size()))));
      return request;
    }
    if (auto down = at(self).down) {
      request->fail(down);
      return request;
    }
    Endpoint& dst = at(peer);
    if (dst.down) {
      request->fail(dst.down);
      return request;
    }
    Message msg{self, envelope, {}, {}, false, nullptr};
    // Receives from this rank for the same operation that describe it
    // differently fail, and the message is dropped (it was delivered).
    bool mismatched = false;
    for (auto it = dst.posted.begin(); it != dst.posted.end();) {
      if (it->peer == self && disagrees(it->envelope, envelope)) {
        it->request->fail(mismatch(peer, it->envelope, self, envelope));
        it = dst.posted.erase(it);
        mismatched = true;
      } else {
        ++it;
      }
    }
    for (auto it = dst.posted.begin(); it != dst.posted.end(); ++it) {
      if (!matches(*it, msg)) continue;
      deliver(*it, self, envelope, payload);
      dst.posted.erase(it);
      request->complete(peer, payload.size());
      return request;
    }
    if (mismatched) {
      request->complete(peer, payload.size());
      return request;
    }
    if (payload.size() <= options_.eager_bytes) {
      msg.eager = true;
      msg.copy.assign(payload.begin(), payload.end());
      request->complete(peer, payload.size());
    } else {
      msg.held = payload;
      msg.send = request;
    }
    dst.unexpected.push_back(std::move(msg));
    return request;
  }

  RequestPtr irecv(int self, int peer, const Envelope& envelope, std::span<std::byte> buffer) {
    auto request = std::make_shared<Request>();
    std::lock_guard lock(mu_);
    const bool any = peer == transport::kAnySource;
    if (any && envelope.channel != Channel::kP2P) {
      request->fail(error_ptr(
          InvalidArgument("loopback: a collective receive must name its peer (got kAnySource)")));
      return request;
    }
    if (!any && (peer < 0 || peer >= size())) {
      request->fail(error_ptr(InvalidArgument("loopback: rank " + std::to_string(self) +
                                              " receives from rank " + std::to_string(peer) +
                                              ", outside the group of " + std::to_string(size()))));
      return request;
    }
    Endpoint& me = at(self);
    if (me.down) {
      request->fail(me.down);
      return request;
    }
    PostedRecv recv{peer, envelope, buffer, request};
    // A waiting message from this peer for the same operation that describes
    // it differently fails the receive and is dropped (it was delivered).
    for (auto it = me.unexpected.begin(); it != me.unexpected.end(); ++it) {
      if (it->source == peer && disagrees(envelope, it->envelope)) {
        request->fail(mismatch(self, envelope, it->source, it->envelope));
        if (it->send) it->send->complete(self, it->payload().size());
        me.unexpected.erase(it);
        return request;
      }
    }
    for (auto it = me.unexpected.begin(); it != me.unexpected.end(); ++it) {
      if (!matches(recv, *it)) continue;
      deliver(recv, it->source, it->envelope, it->payload());
      if (it->send) it->send->complete(self, it->payload().size());
      me.unexpected.erase(it);
      return request;
    }
    for (int r = 0; r < size(); ++r) {
      // A receive from a failed peer (or from any peer while one has failed)
      // that no waiting message satisfies fails at once.
      if (r == self || !(any || r == peer)) continue;
      if (auto down = at(r).down) {
        request->fail(down);
        return request;
      }
    }
    me.posted.push_back(std::move(recv));
    return request;
  }

  // Fails everything of `self` and everything of the others that involves it.
  void bring_down(int self, std::exception_ptr why) {
    std::lock_guard lock(mu_);
    Endpoint& me = at(self);
    if (me.down) return;
    me.down = why;
    for (PostedRecv& recv : me.posted) recv.request->fail(why);
    me.posted.clear();
    for (Message& msg : me.unexpected) {
      if (msg.send) msg.send->fail(why);
    }
    me.unexpected.clear();
    for (int r = 0; r < size(); ++r) {
      if (r == self) continue;
      Endpoint& other = at(r);
      for (auto it = other.posted.begin(); it != other.posted.end();) {
        if (it->peer == self || it->peer == transport::kAnySource) {
          it->request->fail(why);
          it = other.posted.erase(it);
        } else {
          ++it;
        }
      }
      // Messages still held in `self`'s buffers are withdrawn; copies stay.
      for (auto it = other.unexpected.begin(); it != other.unexpected.end();) {
        if (it->source == self && !it->eager) {
          it->send->fail(why);
          it = other.unexpected.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

 private:
  Endpoint& at(int rank) { return endpoints_[static_cast<size_t>(rank)]; }

  static std::exception_ptr mismatch(int receiver, const Envelope& expected, int sender,
                                     const Envelope& got) {
    return error_ptr(MismatchError("collective #" + std::to_string(expected.seq) + ": rank " +
                                   std::to_string(receiver) + " runs " + describe_op(expected.op) +
                                   " but rank " + std::to_string(sender) + " sent " +
                                   describe_op(got.op)));
  }

  // Copies a message into a receive and completes the receive (or fails it
  // when the sizes do not fit). Called under mu_.
  static void deliver(const PostedRecv& recv, int source, const Envelope& envelope,
                      std::span<const std::byte> payload) {
    if (envelope.channel == Channel::kP2P && payload.size() > recv.buffer.size()) {
      recv.request->fail(error_ptr(InvalidArgument("message of " + std::to_string(payload.size()) +
                                                   " bytes from rank " + std::to_string(source) +
                                                   " (tag " + std::to_string(envelope.tag) +
                                                   ") does not fit the receive buffer of " +
                                                   std::to_string(recv.buffer.size()) + " bytes")));
      return;
    }
    if (envelope.channel == Channel::kCollective && payload.size() != recv.buffer.size()) {
      recv.request->fail(error_ptr(
          MismatchError(describe_op(envelope.op) + " #" + std::to_string(envelope.seq) + " step " +
                        std::to_string(envelope.tag) + ": rank " + std::to_string(source) +
                        " sent " + std::to_string(payload.size()) +
                        " bytes but the receive expects " + std::to_string(recv.buffer.size()))));
      return;
    }
    if (!payload.empty()) std::memcpy(recv.buffer.data(), payload.data(), payload.size());
    recv.request->complete(source, payload.size());
  }

  const LoopbackOptions options_;
  std::mutex mu_;
  std::vector<Endpoint> endpoints_;  // guarded by mu_
};

class LoopbackContext final : public transport::Context {
 public:
  LoopbackContext(std::shared_ptr<Hub> hub, int rank) : hub_(std::move(hub)), rank_(rank) {}
  ~LoopbackContext() override {
    hub_->bring_down(rank_, error_ptr(ConnectionError("loopback: rank " + std::to_string(rank_) +
                                                      " closed its connection")));
  }
  int rank() const override { return rank_; }
  int size() const override { return hub_->size(); }
  std::string name() const override { return "loopback"; }
  RequestPtr isend(int peer, const Envelope& envelope,
                   std::span<const std::byte> payload) override {
    return hub_->isend(rank_, peer, envelope, payload);
  }
  RequestPtr irecv(int peer, const Envelope& envelope, std::span<std::byte> buffer) override {
    return hub_->irecv(rank_, peer, envelope, buffer);
  }
  void abort(std::exception_ptr why) override { hub_->bring_down(rank_, std::move(why)); }

 private:
  std::shared_ptr<Hub> hub_;
  int rank_;
};

}  // namespace

std::vector<std::unique_ptr<transport::Context>> make_loopback_group(int size,
                                                                     LoopbackOptions options) {
  if (size < 1) throw InvalidArgument("loopback: group size " + std::to_string(size) + " < 1");
  auto hub = std::make_shared<Hub>(size, options);
  std::vector<std::unique_ptr<transport::Context>> contexts;
  for (int r = 0; r < size; ++r) contexts.push_back(std::make_unique<LoopbackContext>(hub, r));
  return contexts;
}

std::string describe_op(const transport::OpDesc& op) {
  std::string out(collectives::op_kind_name(static_cast<collectives::OpKind>(op.kind)));
  out += "(";
  if (op.dtype <= static_cast<uint8_t>(DType::Bool)) {
    out += dtype_name(static_cast<DType>(op.dtype));
  } else {
    out += "dtype " + std::to_string(op.dtype);
  }
  out += " x " + std::to_string(op.count);
  if (is_reduction(op.kind) && op.reduce_op <= static_cast<uint8_t>(ReduceOp::BXOR)) {
    out += ", " + std::string(reduce_op_name(static_cast<ReduceOp>(op.reduce_op)));
  }
  if (op.root >= 0) out += ", root " + std::to_string(op.root);
  return out + ")";
}

}  // namespace baton::testing
