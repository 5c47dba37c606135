// The shared-memory transport's Context: setup, progress thread, sends and
// receives, liveness, abort; see context.hpp and factory.hpp.
#include "transport/shm/context.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <random>
#include <utility>

#include "baton/error.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/spin.hpp"
#include "transport/frame.hpp"

namespace baton::transport::shm {
namespace {

using Clock = std::chrono::steady_clock;
// How long the progress thread polls without work before it sleeps. Waking a
// sleeping thread costs tens of microseconds on small virtual machines.
constexpr auto kSpin = std::chrono::microseconds(50);
// How long it polls while requests are in flight (sends queued or awaiting a
// single-copy acknowledgement, receives posted): their completion depends on
// it, and a futex wake-up can cost a scheduler tick on a busy machine.
constexpr auto kBusySpin = std::chrono::microseconds(1000);
// While a waiting thread drives progress itself, the progress thread sleeps
// in slices of this length (it still checks liveness between them).
constexpr auto kStepAside = std::chrono::microseconds(200);
// How recently a caller must have polled for the progress thread to step aside.
constexpr auto kCallerRecent = std::chrono::microseconds(20);
// The longest sleep: bounds how late a dead peer is noticed.
constexpr auto kSleep = std::chrono::microseconds(20000);
constexpr auto kLivenessPeriod = std::chrono::milliseconds(2);

int checked_rank(int rank, int size) {
  if (size < 1) {
    throw InvalidArgument("shm transport: world size " + std::to_string(size) +
                          " must be at least 1");
  }
  if (rank < 0 || rank >= size) {
    throw InvalidArgument("shm transport: rank " + std::to_string(rank) +
                          " is out of range for a group of " + std::to_string(size) + " ranks");
  }
  return rank;
}

}  // namespace

size_t detail::positive_tunable(size_t given, const char* name) {
  if (given > 0) return given;
  const int64_t value = config::get_int(name);
  if (value <= 0) {
    throw InvalidArgument(std::string(name) + "=" + std::to_string(value) + " must be positive");
  }
  return static_cast<size_t>(value);
}

std::string detail::rank_list(const std::vector<int>& ranks) {
  std::string out;
  for (int r : ranks) out += (out.empty() ? "" : ", ") + std::to_string(r);
  return out;
}

namespace {

std::vector<int> checked_members(const std::vector<int>& members, int rank, int size) {
  if (members.empty()) {
    std::vector<int> all(static_cast<size_t>(std::max(size, 0)));
    for (int r = 0; r < size; ++r) all[static_cast<size_t>(r)] = r;
    return all;
  }
  bool self = false;
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i] < 0 || members[i] >= size || (i > 0 && members[i] <= members[i - 1])) {
      throw InvalidArgument("shm transport: members must be increasing ranks of the group of " +
                            std::to_string(size) + " (got " + detail::rank_list(members) + ")");
    }
    self = self || members[i] == rank;
  }
  if (!self) {
    throw InvalidArgument("shm transport: rank " + std::to_string(rank) +
                          " is not among the members " + detail::rank_list(members));
  }
  return members;
}

}  // namespace

ShmContext::ShmContext(Store& store, const std::string& group_key, int rank, int size,
                       const ShmOptions& options)
    : rank_(checked_rank(rank, size)),
      size_(size),
      group_key_(group_key),
      matcher_(MatcherOptions{.rank = rank,
                              .size = size,
                              .unexpected_limit = detail::positive_tunable(
                                  options.unexpected_bytes, "BATON_UNEXPECTED_BYTES"),
                              .describe_op = options.describe_op,
                              .on_space =
                                  [this] {
                                    if (segment_) ring_doorbell(slot(rank_));
                                  },
                              .on_divergence =
                                  [this](std::exception_ptr e) {
                                    {
                                      std::lock_guard lock(divergence_mu_);
                                      if (!divergence_) divergence_ = std::move(e);
                                    }
                                    diverged_.store(true, std::memory_order_release);
                                    if (segment_) ring_doorbell(slot(rank_));
                                  }}),
      members_(checked_members(options.members, rank, size)),
      local_(static_cast<size_t>(size), -1),
      key_prefix_(group_key + "/shm" +
                  (options.members.empty() ? "" : "/" + std::to_string(members_.front()))),
      peers_(static_cast<size_t>(size)),
      peer_done_(static_cast<size_t>(size), true),
      closing_(static_cast<size_t>(size), -1) {
  for (size_t i = 0; i < members_.size(); ++i) {
    local_[static_cast<size_t>(members_[i])] = static_cast<int>(i);
    peer_done_[static_cast<size_t>(members_[i])] = members_[i] == rank_;
  }
  if (members_.size() == 1) return;
  setup(store, options);
  driver_ = std::make_shared<Driver>([this](int peer) { return progress(peer); });
  progress_ = std::thread([this] { progress_loop(); });
}

ShmContext::~ShmContext() {
  if (!segment_) return;
  // No waiting thread polls this context from now on (a request may outlive it).
  if (driver_) driver_->detach();
  // A context that failed (a divergence, its abort or a peer's) closes as
  // an abort: the peers read its reason, which names the culprit, instead
  // of "closed" (which would name this rank).
  if (auto failed = matcher_.context_error()) abort(failed);
  RankSlot& me = slot(rank_);
  // Mark closed before failing anything: a peer still copying one of our
  // single-copy messages then drops it instead of trusting freed memory.
  uint32_t open = static_cast<uint32_t>(PeerState::kOpen);
  {
    std::lock_guard lock(abort_mu_);  // after any abort in flight (see abort())
    me.state.compare_exchange_strong(open, static_cast<uint32_t>(PeerState::kClosed),
                                     std::memory_order_seq_cst);
  }
  const auto why = std::make_exception_ptr(ConnectionError(
      "the shm transport of " + describe() + " was destroyed while this request was pending"));
  matcher_.fail_all(why);
  failed_.store(true, std::memory_order_release);
  for (auto& peer : peers_) {
    if (peer) peer->fail(why);
  }
  stop_.store(true, std::memory_order_release);
  ring_doorbell(me);
  if (progress_.joinable()) progress_.join();
  for (int p = 0; p < size_; ++p) {
    if (is_peer(p)) ring_doorbell(slot(p));
  }
}

std::string ShmContext::describe() const {
  return "rank " + std::to_string(rank_) + " of group '" + group_key_ + "'";
}

bool ShmContext::single_copy_to(int peer) const {
  return peer >= 0 && peer < size_ && is_peer(peer) && segment_ && single_copy_bytes_ > 0 &&
         ring(rank_, peer).single_copy.load(std::memory_order_acquire) != 0;
}

bool ShmContext::single_copy_for(int peer, size_t bytes) const {
  return single_copy_to(peer) && peers_[static_cast<size_t>(peer)]->single_copy_for(bytes);
}

uint64_t ShmContext::single_copies_to(int peer) const {
  if (peer < 0 || peer >= size_ || !is_peer(peer) || !segment_) return 0;
  return peers_[static_cast<size_t>(peer)]->single_copies_acknowledged();
}

// ---------------------------------------------------------------- operation

RequestPtr ShmContext::isend(int peer, const Envelope& envelope,
                             std::span<const std::byte> payload) {
  auto request = std::make_shared<Request>();
  if (driver_) request->set_driver(driver_, kAnySource);
  std::string problem = send_problem(peer, envelope, rank_, size_);
  if (problem.empty() && !is_peer(peer)) {
    problem = "it does not share this shared-memory segment (another host)";
  }
  if (!problem.empty()) {
    request->fail(std::make_exception_ptr(InvalidArgument(describe() + " cannot send to rank " +
                                                          std::to_string(peer) + ": " + problem)));
    return request;
  }
  if (failed_.load(std::memory_order_acquire)) {
    if (auto error = matcher_.context_error()) {
      request->fail(error);
      return request;
    }
  }
  peers_[static_cast<size_t>(peer)]->send(envelope, payload, request);
  return request;
}

RequestPtr ShmContext::irecv(int peer, const Envelope& envelope, std::span<std::byte> buffer) {
  auto request = std::make_shared<Request>();
  if (driver_) request->set_driver(driver_, kAnySource);
  std::string problem = receive_problem(peer, envelope, rank_, size_);
  if (problem.empty() && peer != kAnySource && !is_peer(peer)) {
    problem = "it does not share this shared-memory segment (another host)";
  }
  if (!problem.empty()) {
    request->fail(std::make_exception_ptr(InvalidArgument(
        describe() + " cannot receive from rank " + std::to_string(peer) + ": " + problem)));
    return request;
  }
  matcher_.post(peer, envelope, buffer, request);
  // Latency path: a message already in the ring completes the receive here.
  if (!request->done()) {
    if (peer == kAnySource) {
      for (auto& c : peers_) {
        if (c && !request->done()) c->drain();
      }
    } else {
      peers_[static_cast<size_t>(peer)]->drain();
    }
  }
  return request;
}

void ShmContext::abort(std::exception_ptr why) {
  if (!why) why = std::make_exception_ptr(ConnectionError(describe() + " was aborted"));
  if (segment_) {
    // Under a lock, not a flag: a second abort (the progress thread's and
    // the caller's race) returns only once the first has published the
    // state, so nobody closes the slot before it says "aborted".
    std::lock_guard lock(abort_mu_);
    if (!abort_sent_.exchange(true)) {
      RankSlot& me = slot(rank_);
      const std::string reason = baton::error_message(why);
      const size_t n = std::min(reason.size(), kAbortReasonBytes);
      std::memcpy(me.abort_reason, reason.data(), n);
      me.abort_length = static_cast<uint32_t>(n);
      me.abort_code = static_cast<uint32_t>(baton::error_code(why));
      uint32_t open = static_cast<uint32_t>(PeerState::kOpen);
      me.state.compare_exchange_strong(open, static_cast<uint32_t>(PeerState::kAborted),
                                       std::memory_order_seq_cst);
    }
  }
  matcher_.fail_all(why);
  failed_.store(true, std::memory_order_release);
  for (auto& peer : peers_) {
    if (peer) peer->fail(matcher_.context_error());
  }
  if (segment_) {
    for (int p = 0; p < size_; ++p) {
      if (local_[static_cast<size_t>(p)] >= 0) ring_doorbell(slot(p));
    }
  }
}

// ---------------------------------------------------------------- progress

void ShmContext::progress_loop() {
  RankSlot& me = slot(rank_);
  auto idle_since = Clock::now();
  next_liveness_ = idle_since + kLivenessPeriod;
  while (!stop_.load(std::memory_order_acquire)) {
    const bool work = poll();
    const auto now = Clock::now();
    if (now >= next_liveness_) {
      check_liveness();
      next_liveness_ = now + kLivenessPeriod;
    }
    if (work) {
      idle_since = now;
      continue;
    }
    if (now.time_since_epoch().count() - caller_polled_.load(std::memory_order_relaxed) <
        Clock::duration(kCallerRecent).count()) {
      // A caller is polling: leave the cores to it. Peers do not ring this
      // thread (it is not marked sleeping); the slice bounds the delay of
      // anything the caller does not wait for.
      const uint32_t bell = me.doorbell.load(std::memory_order_acquire);
      futex_wait(me.doorbell, bell, kStepAside);
      continue;
    }
    if (now - idle_since < kSpin ||
        (now - idle_since < std::max<Clock::duration>(kBusySpin, spin::spin_duration()) &&
         in_flight())) {
      std::this_thread::yield();
      continue;
    }
    // Sleep: announce it, then look once more (a writer that published
    // before seeing the flag is caught here; one after it rings the bell).
    me.sleeping.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const uint32_t bell = me.doorbell.load(std::memory_order_acquire);
    if (!poll() && !stop_.load(std::memory_order_acquire)) futex_wait(me.doorbell, bell, kSleep);
    me.sleeping.store(0, std::memory_order_relaxed);
    idle_since = Clock::now();
    check_liveness();
    next_liveness_ = idle_since + kLivenessPeriod;
  }
}

bool ShmContext::in_flight() const {
  for (int p = 0; p < size_; ++p) {
    if (!peer_done_[static_cast<size_t>(p)] && peers_[static_cast<size_t>(p)]->sending())
      return true;
  }
  return matcher_.posted_receives() > 0;
}

void ShmContext::abort_if_diverged() {
  if (!diverged_.load(std::memory_order_acquire)) return;
  std::exception_ptr why;
  {
    std::lock_guard lock(divergence_mu_);
    why = std::exchange(divergence_, nullptr);
  }
  if (why) abort(why);
}

bool ShmContext::poll() {
  abort_if_diverged();
  bool work = false;
  for (int p = 0; p < size_; ++p) {
    if (peer_done_[static_cast<size_t>(p)]) continue;
    Connection& c = *peers_[static_cast<size_t>(p)];
    work = c.drain() || work;
    work = c.push() || work;
    if (auto error = c.failure()) {
      on_peer_failed(p, error);
      continue;
    }
    check_peer(p);
  }
  return work;
}

void ShmContext::check_peer(int peer) {
  const auto p = static_cast<size_t>(peer);
  const auto state = static_cast<PeerState>(slot(peer).state.load(std::memory_order_acquire));
  if (state == PeerState::kAborted) {
    // Messages every peer wrote before this abort became visible are
    // delivered first (a tcp stream delivers what precedes an abort frame).
    for (int round = 0; round < 8; ++round) {
      bool more = false;
      for (auto& c : peers_) {
        if (c) more = c->drain() || c->reading() || more;
      }
      if (!more) break;
    }
    on_peer_abort(peer);
    return;
  }
  if (state == PeerState::kClosed && closing_[p] < 0) closing_[p] = 2;
  if (closing_[p] < 0) return;
  // What the peer wrote completely before it went can still be received:
  // fail it only after polls that found nothing more to read.
  if (peers_[p]->drain() || peers_[p]->reading()) return;
  if (--closing_[p] > 0) return;
  const std::string why =
      state == PeerState::kClosed
          ? "rank " + std::to_string(peer) +
                " closed its connection (it shut down its transport context)"
          : "rank " + std::to_string(peer) + " (pid " + std::to_string(watch_.pid(peer)) +
                ") died: its process exited while its shared-memory connection was open";
  on_peer_failed(peer, std::make_exception_ptr(ConnectionError(why)));
}

void ShmContext::check_liveness() {
  for (int p = 0; p < size_; ++p) {
    const auto i = static_cast<size_t>(p);
    if (peer_done_[i] || closing_[i] >= 0) continue;
    if (watch_.exited(p)) closing_[i] = 2;
  }
}

void ShmContext::on_peer_failed(int peer, const std::exception_ptr& error) {
  const auto p = static_cast<size_t>(peer);
  if (peer_done_[p]) return;
  peer_done_[p] = true;
  BATON_LOG_INFO(log::Subsys::kTransport) << describe() << ": " << baton::error_message(error);
  // Sends first: once a receive has failed, a send to the peer must fail too.
  peers_[p]->fail(error);
  matcher_.fail_peer(peer, error);
}

void ShmContext::on_peer_abort(int peer) {
  if (peer_aborted_) return;
  peer_aborted_ = true;
  auto error = peer_abort_error(peer);
  BATON_LOG_WARN(log::Subsys::kTransport)
      << describe() << " aborts because " << baton::error_message(error);
  // Sends first: once a receive has failed, a send must fail too.
  for (auto& c : peers_) {
    if (c) c->fail(error);
  }
  matcher_.fail_all(error);
  failed_.store(true, std::memory_order_release);
  std::fill(peer_done_.begin(), peer_done_.end(), true);
}

}  // namespace baton::transport::shm

namespace baton::transport {

std::unique_ptr<Context> make_shm_context(Store& store, const std::string& group_key, int rank,
                                          int size, const ShmOptions& options) {
  return std::make_unique<shm::ShmContext>(store, group_key, rank, size, options);
}

}  // namespace baton::transport
