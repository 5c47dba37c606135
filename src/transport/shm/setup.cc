// ShmContext setup: creating or opening the group's segment, mapping it
// with every peer, probing them, and never leaving the segment behind when
// that fails; see context.hpp and factory.hpp.
#include <sys/mman.h>
#include <sys/random.h>
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
#include "transport/shm/context.hpp"

namespace baton::transport::shm {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t random_token() {
  uint64_t token = 0;
  if (::getrandom(&token, sizeof(token), 0) != static_cast<ssize_t>(sizeof(token))) {
    std::random_device device;
    token = (uint64_t{device()} << 32) ^ device();
  }
  return token | 1;  // never 0, so a probe of zeroed memory fails
}

// Characters safe in a /dev/shm name, at most `max` of them.
std::string name_part(const std::string& text, size_t max) {
  std::string out;
  for (char c : text) {
    if (out.size() == max) break;
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    out += ok ? c : '_';
  }
  return out.empty() ? "-" : out;
}

}  // namespace

void ShmContext::setup(Store& store, const ShmOptions& options) {
  const auto timeout =
      options.timeout.count() > 0 ? options.timeout : config::get_duration("BATON_TIMEOUT");
  const auto started = Clock::now();
  const auto deadline = started + timeout;
  const size_t ring_bytes = detail::positive_tunable(options.ring_bytes, "BATON_SHM_RING_BYTES");
  if (ring_bytes < 4096) {
    throw InvalidArgument("BATON_SHM_RING_BYTES=" + std::to_string(ring_bytes) +
                          " is too small: a ring needs at least 4096 bytes");
  }
  const bool single_copy = options.single_copy.value_or(config::get_bool("BATON_SHM_SINGLE_COPY"));
  const size_t threshold =
      detail::positive_tunable(options.single_copy_bytes, "BATON_SHM_SINGLE_COPY_BYTES");
  const int64_t max_single_copy = options.single_copy_max_bytes
                                      ? static_cast<int64_t>(*options.single_copy_max_bytes)
                                      : config::get_int("BATON_SHM_SINGLE_COPY_MAX_BYTES");
  if (max_single_copy < 0 ||
      (single_copy && max_single_copy > 0 && static_cast<size_t>(max_single_copy) < threshold)) {
    throw InvalidArgument("BATON_SHM_SINGLE_COPY_MAX_BYTES=" + std::to_string(max_single_copy) +
                          " must be 0 (no limit) or at least BATON_SHM_SINGLE_COPY_BYTES=" +
                          std::to_string(threshold) +
                          " (BATON_SHM_SINGLE_COPY=0 turns single copy off)");
  }
  const std::string job = options.job_id.value_or(config::get_string("BATON_JOB_ID"));
  // The shared area of this host's ranks (the whole group, or a mixed group's subset).
  const int64_t area_buffer = options.area_bytes ? static_cast<int64_t>(*options.area_bytes)
                                                 : config::get_int("BATON_SHM_AREA_BYTES");
  if (area_buffer < 0) {
    throw InvalidArgument("BATON_SHM_AREA_BYTES=" + std::to_string(area_buffer) +
                          " must be 0 (no shared area) or a number of bytes");
  }
  const size_t area_bytes = shm::area_bytes_for(static_cast<size_t>(area_buffer));
  const SetupPlan plan{.started = started,
                       .deadline = deadline,
                       .ring_bytes = ring_bytes,
                       .area_bytes = area_bytes,
                       .single_copy = single_copy,
                       .threshold = threshold,
                       .max_single_copy = static_cast<size_t>(max_single_copy),
                       .job = job,
                       .name_key = key_prefix_ + "/segment",
                       .planned_key = key_prefix_ + "/segment-planned",
                       .describe_op = options.describe_op};
  // Setup waits notice a peer of this host that exited (its rendezvous pid).
  std::vector<pid_t> rendezvous_pids = options.peer_pids;
  rendezvous_pids.resize(static_cast<size_t>(size_), 0);
  const PeerWatch setup_watch(std::move(rendezvous_pids), rank_);
  try {
    setup_segment(store, plan, setup_watch);
  } catch (...) {
    // No segment outlives a failed setup: the creator's is unlinked by its
    // destructor, but a creator killed before it unlinked leaves it to us.
    // Every rank of a failed setup unlinks it by name (the planned name
    // when the creator died before publishing the real one).
    std::string name = segment_name_;
    if (name.empty()) {
      try {
        if (store.check(std::span<const std::string>(&plan.planned_key, 1))) {
          name = store.get_string(plan.planned_key);
        }
      } catch (const std::exception&) {
        // The store went with the creator: nothing more to learn.
      }
    }
    if (!name.empty() && !name.starts_with("!")) ::shm_unlink(name.c_str());
    throw;
  }
}

void ShmContext::setup_segment(Store& store, const SetupPlan& plan, const PeerWatch& setup_watch) {
  const auto started = plan.started;
  const auto deadline = plan.deadline;
  const size_t ring_bytes = plan.ring_bytes;
  const size_t area_bytes = plan.area_bytes;
  const bool single_copy = plan.single_copy;
  const size_t threshold = plan.threshold;
  const std::string& name_key = plan.name_key;
  const auto local_size = static_cast<int>(members_.size());
  auto elapsed = [&] {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.1f s",
                  std::chrono::duration<double>(Clock::now() - started).count());
    return std::string(buf);
  };
  if (rank_ == members_.front()) {
    char token[24];
    std::snprintf(token, sizeof(token), "%016" PRIx64, random_token());
    segment_name_ =
        "/baton-" + name_part(plan.job, 64) + "-" + name_part(group_key_, 48) + "-" + token;
    store.set(plan.planned_key, std::string_view(segment_name_));
    try {
      segment_ = std::make_unique<Segment>(
          Segment::create(segment_name_, local_size, ring_bytes, area_bytes));
    } catch (const IoError& e) {
      // Tell the others, so that every rank fails alike (and may fall back alike).
      store.set(name_key, std::string_view("!" + std::string(e.what())));
      throw;
    }
    store.set(name_key, std::string_view(segment_name_));
  } else {
    if (!wait_keys(store, {name_key}, {members_.front()}, setup_watch, describe(),
                   "shared-memory setup (before it published the segment's name)", deadline)
             .empty()) {
      throw TimeoutError(describe() + " timed out after " + elapsed() +
                         " waiting for rank 0 to publish the shared-memory segment's name under '" +
                         name_key + "' (is rank 0 running, with the same store and group?)");
    }
    segment_name_ = store.get_string(name_key);
    if (segment_name_.starts_with("!")) {
      throw IoError(
          "rank " + std::to_string(members_.front()) +
          " could not create the group's shared-memory segment: " + segment_name_.substr(1));
    }
    try {
      segment_ = std::make_unique<Segment>(
          Segment::open(segment_name_, local_size, ring_bytes, area_bytes));
    } catch (const IoError& e) {
      store.set(key_prefix_ + "/mapped/" + std::to_string(rank_),
                std::string_view("!" + std::string(e.what())));
      throw;
    }
  }

  RankSlot& me = slot(rank_);
  probe_word_ = random_token();
  me.pid = static_cast<int32_t>(::getpid());
  me.probe_address = reinterpret_cast<uint64_t>(&probe_word_);
  me.probe_value = probe_word_;
  std::atomic_thread_fence(std::memory_order_release);

  auto barrier = [&](const std::string& what) {
    store.set(key_prefix_ + "/" + what + "/" + std::to_string(rank_), std::string_view("1"));
    std::vector<std::string> keys;
    for (int r : members_) keys.push_back(key_prefix_ + "/" + what + "/" + std::to_string(r));
    std::vector<int> missing =
        wait_keys(store, keys, members_, setup_watch, describe(),
                  "shared-memory setup (before it got to '" + what + "')", deadline);
    for (int& m : missing) m = members_[static_cast<size_t>(m)];
    for (size_t i = 0; missing.empty() && i < keys.size(); ++i) {
      const std::string value = store.get_string(keys[i]);
      if (value.starts_with("!")) {
        throw IoError("rank " + std::to_string(members_[i]) +
                      " could not map the group's shared-memory segment: " + value.substr(1));
      }
    }
    if (!missing.empty()) {
      throw TimeoutError(describe() + " timed out after " + elapsed() +
                         " setting up the shared-memory segment " + segment_name_ +
                         "; ranks that did not get to '" + what +
                         "': " + detail::rank_list(missing));
    }
  };
  barrier("mapped");
  std::atomic_thread_fence(std::memory_order_acquire);
  if (rank_ == members_.front())
    segment_->unlink();  // every rank has it mapped: nothing can leak now

  // Probe process_vm_readv on each peer (as receiver), open the liveness pidfds.
  std::vector<pid_t> slot_pids(static_cast<size_t>(size_), 0);
  for (int p = 0; p < size_; ++p) {
    if (!is_peer(p)) continue;
    const RankSlot& peer = slot(p);
    slot_pids[static_cast<size_t>(p)] = static_cast<pid_t>(peer.pid);
    bool ok = false;
    if (single_copy) {
      uint64_t value = 0;
      struct iovec local {
        &value, sizeof(value)
      };
      struct iovec remote {
        reinterpret_cast<void*>(peer.probe_address), sizeof(value)
      };
      ok = ::process_vm_readv(peer.pid, &local, 1, &remote, 1, 0) ==
               static_cast<ssize_t>(sizeof(value)) &&
           value == peer.probe_value;
      if (!ok) {
        BATON_LOG_INFO(log::Subsys::kTransport)
            << describe() << ": process_vm_readv from rank " << p << " (pid " << peer.pid
            << ") is not permitted (" << std::strerror(errno)
            << "); its large messages are copied through the shared-memory ring";
      }
    }
    ring(p, rank_).single_copy.store(ok ? 1 : 0, std::memory_order_release);
  }
  watch_ = PeerWatch(std::move(slot_pids), rank_);
  barrier("ready");
  single_copy_bytes_ = single_copy ? threshold : 0;
  for (int p = 0; p < size_; ++p) {
    if (!is_peer(p)) continue;
    const bool to_peer =
        single_copy && ring(rank_, p).single_copy.load(std::memory_order_acquire) != 0;
    peers_[static_cast<size_t>(p)] = std::make_unique<Connection>(
        *segment_, matcher_,
        Connection::Options{.rank = rank_,
                            .peer = p,
                            .size = size_,
                            .peer_pid = watch_.pid(p),
                            .single_copy_bytes = to_peer ? threshold : 0,
                            .single_copy_max_bytes = plan.max_single_copy,
                            .self_index = local_[static_cast<size_t>(rank_)],
                            .peer_index = local_[static_cast<size_t>(p)]});
  }
  if (area_bytes > 0) {
    area_ = std::make_unique<ShmArea>(
        *segment_, members_, local_[static_cast<size_t>(rank_)],
        ShmArea::Hooks{.check = [this](int peer) { check_for_caller(peer); },
                       .describe_op = plan.describe_op,
                       .caller_polled = &caller_polled_,
                       .probe =
                           [this](uint64_t seq, const OpDesc& op) {
                             for (int p = 0; p < size_; ++p) {
                               if (is_peer(p))
                                 isend(p, {Channel::kCollective, seq, kProbeTag, op}, {});
                             }
                           },
                       .mismatch_check = config::get_duration("BATON_MISMATCH_CHECK"),
                       .after_wait = [this](int peer) { check_messages_from(peer); },
                       .ran = [this](uint64_t seq) { return matcher_.ran(seq); }});
  }
  BATON_LOG_INFO(log::Subsys::kTransport)
      << describe() << " mapped shared-memory segment " << segment_name_ << " with "
      << members_.size() - 1 << " peers in " << elapsed();
}

}  // namespace baton::transport::shm
