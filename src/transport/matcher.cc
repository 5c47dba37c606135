// Message matching shared by every transport; see matcher.hpp for the rules.
#include "transport/matcher.hpp"

#include <cstring>

#include "baton/dtype.hpp"
#include "baton/error.hpp"

namespace baton::transport {

namespace detail {
// A message that arrived before its receive was posted.
struct Message {
  int source = -1;
  Envelope envelope;
  uint64_t length = 0;
  std::unique_ptr<std::byte[]> data;
  bool complete = false;   // the whole payload is in `data`
  bool accounted = false;  // its bytes count towards the matcher's bound
  // A receive that matched it while its payload was still arriving.
  RequestPtr attached;
  std::span<std::byte> attached_buffer;
};
}  // namespace detail

using detail::Message;

std::string describe_op_raw(const OpDesc& op, uint64_t seq) {
  std::string dtype = "dtype " + std::to_string(op.dtype);
  if (op.dtype < std::size(kAllDTypes))
    dtype = std::string(dtype_name(static_cast<DType>(op.dtype)));
  return "operation kind " + std::to_string(op.kind) + " #" + std::to_string(seq) + " (" + dtype +
         ", " + std::to_string(op.count) + " elements, reduce op " + std::to_string(op.reduce_op) +
         ", root " + std::to_string(op.root) + ")";
}

Matcher::Matcher(MatcherOptions options)
    : options_(std::move(options)),
      peer_error_(static_cast<size_t>(std::max(options_.size, 1))),
      waiting_(static_cast<size_t>(std::max(options_.size, 1)), false),
      history_(kHistory, {UINT64_MAX, OpDesc{}}) {}

Matcher::~Matcher() = default;

bool Matcher::matches(int posted_peer, const Envelope& posted, int source, const Envelope& env) {
  if (posted.channel != env.channel || posted.tag != env.tag) return false;
  if (env.channel == Channel::kP2P) return posted_peer == kAnySource || posted_peer == source;
  return posted_peer == source && posted.seq == env.seq;
}

std::exception_ptr Matcher::size_error(int source, const Envelope& env, uint64_t length,
                                       size_t capacity) const {
  if (env.channel == Channel::kP2P) {
    if (length <= capacity) return nullptr;
    return std::make_exception_ptr(
        MismatchError("rank " + std::to_string(options_.rank) + ": the message from rank " +
                      std::to_string(source) + " (tag " + std::to_string(env.tag) + ") is " +
                      std::to_string(length) + " bytes but the receive buffer holds " +
                      std::to_string(capacity) + " bytes; the message was discarded"));
  }
  if (length == capacity) return nullptr;
  const OpFormatter describe = options_.describe_op ? options_.describe_op : describe_op_raw;
  return std::make_exception_ptr(MismatchError(
      "rank " + std::to_string(options_.rank) + " expected " + std::to_string(capacity) +
      " bytes from rank " + std::to_string(source) + " in step " + std::to_string(env.tag) +
      " of " + describe(env.op, env.seq) + " but rank " + std::to_string(source) + " sent " +
      std::to_string(length) + " bytes"));
}

std::exception_ptr Matcher::mismatch_error(const Envelope& mine, int source,
                                           const Envelope& theirs) const {
  const OpFormatter describe = options_.describe_op ? options_.describe_op : describe_op_raw;
  return std::make_exception_ptr(MismatchError(
      "rank " + std::to_string(options_.rank) + " runs " + describe(mine.op, mine.seq) +
      " but rank " + std::to_string(source) + " sent " + describe(theirs.op, theirs.seq)));
}

const OpDesc* Matcher::history_locked(uint64_t seq) const {
  const auto& entry = history_[seq % kHistory];
  return entry.first == seq ? &entry.second : nullptr;
}

std::exception_ptr Matcher::check_agreement_locked(int source, const Envelope& env) {
  const bool probe = env.tag == kProbeTag;
  if (!begun_ || env.seq > current_seq_) {
    if (probe) {
      // Not there yet: compare when begin_op() reaches it.
      if (early_probes_.size() >= 4 * static_cast<size_t>(std::max(options_.size, 1))) {
        early_probes_.erase(early_probes_.begin());
      }
      early_probes_.push_back({source, env.seq, env.op});
    }
    return nullptr;
  }
  const OpFormatter describe = options_.describe_op ? options_.describe_op : describe_op_raw;
  const std::string me = "rank " + std::to_string(options_.rank);
  const std::string them = "rank " + std::to_string(source);
  const OpDesc* mine = history_locked(env.seq);
  if (mine && !(*mine == env.op)) {
    return std::make_exception_ptr(MismatchError(
        me + (env.seq == current_seq_ ? " runs " : " ran ") + describe(*mine, env.seq) + " but " +
        them + (probe ? " runs " : " sent ") + describe(env.op, env.seq)));
  }
  if (!probe && env.seq < current_seq_) {
    return std::make_exception_ptr(
        MismatchError(them + " sent step " + std::to_string(env.tag) + " of " +
                      describe(env.op, env.seq) + " which " + me +
                      " never received: it finished that operation without it, so the "
                      "ranks disagree about how to run it"));
  }
  return nullptr;
}

std::optional<OpDesc> Matcher::ran(uint64_t seq) const {
  std::lock_guard lock(mu_);
  if (const OpDesc* op = history_locked(seq)) return *op;
  return std::nullopt;
}

void Matcher::diverged(std::exception_ptr error) {
  {
    std::lock_guard lock(mu_);
    if (divergence_reported_ || all_error_) return;
    divergence_reported_ = true;
  }
  // Nothing more is delivered, from any peer: a message behind the divergent
  // one must not complete a receive before the transport has aborted.
  fail_all(error);
  if (options_.on_divergence) options_.on_divergence(std::move(error));
}

void Matcher::begin_op(uint64_t seq, const OpDesc& op) {
  std::exception_ptr divergence;
  {
    std::lock_guard lock(mu_);
    if (all_error_) return;
    begun_ = true;
    current_seq_ = seq;
    history_[seq % kHistory] = {seq, op};
    const OpFormatter describe = options_.describe_op ? options_.describe_op : describe_op_raw;
    for (auto it = early_probes_.begin(); it != early_probes_.end();) {
      if (it->seq == seq && !(it->op == op) && !divergence) {
        divergence = std::make_exception_ptr(MismatchError(
            "rank " + std::to_string(options_.rank) + " runs " + describe(op, seq) + " but rank " +
            std::to_string(it->source) + " runs " + describe(it->op, it->seq)));
      }
      it = it->seq <= seq ? early_probes_.erase(it) : std::next(it);
    }
    // Messages left over from earlier operations, or of this one described
    // otherwise, whichever peer sent them.
    for (const auto& m : unexpected_) {
      if (divergence) break;
      if (m->attached || m->envelope.channel != Channel::kCollective) continue;
      divergence = check_agreement_locked(m->source, m->envelope);
    }
  }
  if (divergence) diverged(std::move(divergence));
}

void Matcher::release_locked(Message& message) {
  if (!message.accounted) return;
  message.accounted = false;
  unexpected_bytes_ -= message.length;
}

void Matcher::notify_space() {
  if (options_.on_space) options_.on_space();
}

void Matcher::post(int peer, const Envelope& envelope, std::span<std::byte> buffer,
                   const RequestPtr& request) {
  std::exception_ptr error;
  std::shared_ptr<Message> copy_from;
  bool space = false;
  {
    std::lock_guard lock(mu_);
    if (all_error_) {
      error = all_error_;
    } else if (peer == kAnySource && envelope.channel != Channel::kP2P) {
      error = std::make_exception_ptr(
          InvalidArgument("a collective receive must name its peer (got kAnySource)"));
    }
    // Collective: a buffered message of the same operation number from this
    // peer that describes another operation means the ranks disagree.
    if (!error && envelope.channel == Channel::kCollective) {
      for (auto it = unexpected_.begin(); it != unexpected_.end(); ++it) {
        const Message& m = **it;
        if (!m.attached && m.source == peer && m.envelope.channel == Channel::kCollective &&
            m.envelope.seq == envelope.seq && !(m.envelope.op == envelope.op)) {
          error = mismatch_error(envelope, peer, m.envelope);
          release_locked(**it);
          unexpected_.erase(it);
          space = true;
          break;
        }
      }
    }
    if (!error) {
      auto it = unexpected_.begin();
      while (it != unexpected_.end() &&
             ((*it)->attached || !matches(peer, envelope, (*it)->source, (*it)->envelope))) {
        ++it;
      }
      if (it != unexpected_.end()) {
        std::shared_ptr<Message> m = *it;
        error = size_error(m->source, m->envelope, m->length, buffer.size());
        if (error || m->complete) {
          unexpected_.erase(it);
          release_locked(*m);  // consumed (copied below) or discarded
          space = true;
          if (!error) copy_from = std::move(m);
        } else {
          // Still arriving: it stays queued (so fail_all sees it) but is
          // taken; on_payload copies it into the buffer when it is complete.
          m->attached = request;
          m->attached_buffer = buffer;
        }
      } else if (peer != kAnySource && peer >= 0 &&
                 static_cast<size_t>(peer) < peer_error_.size() &&
                 peer_error_[static_cast<size_t>(peer)]) {
        error = peer_error_[static_cast<size_t>(peer)];
      } else if (peer == kAnySource && any_peer_error_) {
        error = any_peer_error_;
      } else {
        posted_.push_back(Posted{peer, envelope, buffer, request});
        space = true;  // a waiting header may match it
      }
    }
    space = space && waiting_count_ > 0;
  }
  if (error) {
    request->fail(error);
  } else if (copy_from) {
    if (copy_from->length > 0) std::memcpy(buffer.data(), copy_from->data.get(), copy_from->length);
    request->complete(copy_from->source, copy_from->length);
  }
  if (space) notify_space();
}

Delivery Matcher::on_header(int source, const Envelope& envelope, uint64_t length) {
  Failures failures;
  std::exception_ptr divergence;
  Delivery d;
  {
    std::lock_guard lock(mu_);
    d = on_header_locked(source, envelope, length, failures, divergence);
  }
  for (auto& [request, error] : failures) request->fail(error);
  if (divergence) diverged(std::move(divergence));
  return d;
}

Delivery Matcher::on_header_locked(int source, const Envelope& envelope, uint64_t length,
                                   Failures& failures, std::exception_ptr& divergence) {
  Delivery d;
  d.source = source;
  d.length = length;
  const auto src = static_cast<size_t>(source);
  if (waiting_[src]) {
    waiting_[src] = false;
    --waiting_count_;
  }
  if (all_error_) return d;  // kDiscard: nobody will ever receive it
  if (envelope.channel == Channel::kCollective) {
    // Probes end here (kDiscard); so does a message that shows divergence.
    divergence = check_agreement_locked(source, envelope);
    if (divergence || envelope.tag == kProbeTag) return d;
  }
  bool mismatched = false;
  if (envelope.channel == Channel::kCollective) {
    for (auto it = posted_.begin(); it != posted_.end();) {
      if (it->peer == source && it->envelope.channel == Channel::kCollective &&
          it->envelope.seq == envelope.seq && !(it->envelope.op == envelope.op)) {
        failures.emplace_back(it->request, mismatch_error(it->envelope, source, envelope));
        it = posted_.erase(it);
        mismatched = true;
      } else {
        ++it;
      }
    }
  }
  auto it = posted_.begin();
  while (it != posted_.end() && !matches(it->peer, it->envelope, source, envelope)) ++it;
  if (it != posted_.end()) {
    Posted r = std::move(*it);
    posted_.erase(it);
    if (auto error = size_error(source, envelope, length, r.buffer.size())) {
      failures.emplace_back(std::move(r.request), error);
    } else {
      d.kind = Delivery::Kind::kDirect;
      d.target = r.buffer.first(static_cast<size_t>(length));
      d.request = std::move(r.request);
    }
  } else if (!mismatched) {
    if (length > 0 && unexpected_bytes_ + length > options_.unexpected_limit) {
      waiting_[src] = true;
      ++waiting_count_;
      d.kind = Delivery::Kind::kWait;
    } else {
      auto m = std::make_shared<Message>();
      m->source = source;
      m->envelope = envelope;
      m->length = length;
      m->data = std::make_unique_for_overwrite<std::byte[]>(static_cast<size_t>(length));
      m->accounted = true;
      unexpected_bytes_ += static_cast<size_t>(length);
      d.kind = Delivery::Kind::kBuffered;
      d.target = {m->data.get(), static_cast<size_t>(length)};
      d.message = m;
      unexpected_.push_back(std::move(m));
    }
  }
  return d;
}

void Matcher::on_payload(Delivery& delivery) {
  switch (delivery.kind) {
    case Delivery::Kind::kDirect:
      delivery.request->complete(delivery.source, static_cast<size_t>(delivery.length));
      return;
    case Delivery::Kind::kBuffered: {
      Message& m = *delivery.message;
      RequestPtr attached;
      bool space = false;
      {
        std::lock_guard lock(mu_);
        m.complete = true;
        if (m.attached) {
          attached = std::move(m.attached);
          unexpected_.remove(delivery.message);
          release_locked(m);
          space = waiting_count_ > 0;
        }
      }
      if (attached) {
        if (m.length > 0) std::memcpy(m.attached_buffer.data(), m.data.get(), m.length);
        attached->complete(m.source, static_cast<size_t>(m.length));
      }
      if (space) notify_space();
      return;
    }
    case Delivery::Kind::kDiscard:
    case Delivery::Kind::kWait: return;
  }
}

void Matcher::drop(Delivery& delivery, const std::exception_ptr& error) {
  if (delivery.kind == Delivery::Kind::kDirect) {
    delivery.request->fail(error);
  } else if (delivery.kind == Delivery::Kind::kBuffered) {
    RequestPtr attached;
    bool space = false;
    {
      std::lock_guard lock(mu_);
      Message& m = *delivery.message;
      attached = std::move(m.attached);
      unexpected_.remove(delivery.message);
      space = m.accounted && waiting_count_ > 0;
      release_locked(m);
    }
    if (attached) attached->fail(error);
    if (space) notify_space();
  }
  delivery = Delivery{};
}

void Matcher::fail_peer(int peer, const std::exception_ptr& error) {
  Failures failures;
  {
    std::lock_guard lock(mu_);
    const auto p = static_cast<size_t>(peer);
    if (!peer_error_[p]) peer_error_[p] = error;
    if (!any_peer_error_) any_peer_error_ = error;
    if (waiting_[p]) {
      waiting_[p] = false;
      --waiting_count_;
    }
    for (auto it = posted_.begin(); it != posted_.end();) {
      if (it->peer == peer || it->peer == kAnySource) {
        failures.emplace_back(std::move(it->request), peer_error_[p]);
        it = posted_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [request, e] : failures) request->fail(e);
}

void Matcher::fail_all(const std::exception_ptr& error) {
  Failures failures;
  {
    std::lock_guard lock(mu_);
    if (!all_error_) all_error_ = error;
    for (Posted& r : posted_) failures.emplace_back(std::move(r.request), all_error_);
    posted_.clear();
    for (auto& m : unexpected_) {
      if (m->attached) failures.emplace_back(std::move(m->attached), all_error_);
      release_locked(*m);
    }
    unexpected_.clear();
    std::fill(waiting_.begin(), waiting_.end(), false);
    waiting_count_ = 0;
  }
  for (auto& [request, e] : failures) request->fail(e);
}

std::exception_ptr Matcher::send_error(int peer) const {
  std::lock_guard lock(mu_);
  if (all_error_) return all_error_;
  return peer_error_[static_cast<size_t>(peer)];
}

std::exception_ptr Matcher::context_error() const {
  std::lock_guard lock(mu_);
  return all_error_;
}

size_t Matcher::unexpected_bytes() const {
  std::lock_guard lock(mu_);
  return unexpected_bytes_;
}

size_t Matcher::posted_receives() const {
  std::lock_guard lock(mu_);
  return posted_.size();
}

}  // namespace baton::transport
