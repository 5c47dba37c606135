#include "collectives/comm.hpp"

#include <algorithm>

#include "baton/error.hpp"
#include "core/config.hpp"

namespace baton::collectives {

std::string_view op_kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::kPointToPoint: return "send/recv";
    case OpKind::kBroadcast: return "broadcast";
    case OpKind::kAllReduce: return "all_reduce";
    case OpKind::kReduce: return "reduce";
    case OpKind::kAllGather: return "all_gather";
    case OpKind::kGather: return "gather";
    case OpKind::kScatter: return "scatter";
    case OpKind::kReduceScatter: return "reduce_scatter";
    case OpKind::kAllToAll: return "all_to_all";
    case OpKind::kBarrier: return "barrier";
  }
  return "unknown operation";
}

Comm::Comm(transport::Context& context, uint64_t seq, transport::OpDesc op,
           Clock::time_point deadline, const Settings* settings)
    : context_(context),
      owned_settings_(settings ? nullptr
                               : std::make_shared<const Settings>(Settings::from_config())),
      settings_(settings ? settings : owned_settings_.get()),
      seq_(seq),
      op_(op),
      deadline_(deadline) {}

Comm Comm::subset(std::vector<int> members, transport::SharedArea* area, int64_t step_base) const {
  const int me = context_.rank();
  const auto at = std::find(members.begin(), members.end(), me);
  if (at == members.end()) {
    throw InvalidArgument(describe() + ": rank " + std::to_string(me) +
                          " is not in the subset it runs a stage on");
  }
  Comm view(context_, seq_, op_, deadline_, settings_);
  view.begun_ = true;  // the whole operation's begin() covers its stages
  view.sub_rank_ = static_cast<int>(at - members.begin());
  view.members_ = std::move(members);
  view.step_base_ = step_base_ + step_base;
  view.area_ = area;
  view.area_set_ = true;
  return view;
}

void Comm::begin(uint8_t algorithm) {
  op_.algorithm = algorithm;
  begun_ = true;
  context_.begin_op(seq_, op_);
}

void Comm::probe() {
  if (probed_) return;
  probed_ = true;
  const transport::Envelope probe{transport::Channel::kCollective, seq_, transport::kProbeTag, op_};
  for (int peer = 0; peer < context_.size(); ++peer) {
    if (peer != context_.rank()) context_.isend(peer, probe, {});
  }
}

bool Comm::wait_until_deadline(transport::Request& request, Clock::time_point until) {
  if (!probed_) {
    const auto now = Clock::now();
    if (probe_at_ == Clock::time_point{}) {
      const auto check = config::get_duration("BATON_MISMATCH_CHECK");
      if (check.count() == 0) {
        probed_ = true;  // probes turned off
      } else {
        probe_at_ = now + check;
      }
    }
    if (!probed_ && now < until) {
      if (request.wait_until(std::min(until, probe_at_))) return true;
      if (Clock::now() >= probe_at_) probe();
    }
  }
  return request.wait_until(until);
}

transport::RequestPtr Comm::isend(int peer, int64_t step, std::span<const std::byte> bytes) {
  ensure_begun();
  return context_.isend(group_rank(peer),
                        {transport::Channel::kCollective, seq_, step_base_ + step, op_}, bytes);
}

transport::RequestPtr Comm::irecv(int peer, int64_t step, std::span<std::byte> bytes) {
  ensure_begun();
  return context_.irecv(group_rank(peer),
                        {transport::Channel::kCollective, seq_, step_base_ + step, op_}, bytes);
}

void Comm::wait(const transport::RequestPtr& request, int peer) {
  if (!wait_until_deadline(*request, deadline_)) {
    throw TimeoutError(describe() + " on rank " + std::to_string(context_.rank()) +
                       " timed out waiting for rank " + std::to_string(group_rank(peer)));
  }
  if (auto error = request->error()) std::rethrow_exception(error);
}

void Comm::wait_all(std::span<const Pending> pending) {
  // Waits on the oldest pending request in slices, so that a failure of any
  // other request (a dead peer) is noticed without waiting for the deadline.
  constexpr auto kSlice = std::chrono::milliseconds(20);
  auto rethrow_failed = [&](size_t from) {
    for (size_t i = from; i < pending.size(); ++i) {
      const auto& r = pending[i].request;
      if (r && r->done()) {
        if (auto error = r->error()) std::rethrow_exception(error);
      }
    }
  };
  size_t first = 0;
  for (;;) {
    while (first < pending.size() && (!pending[first].request || pending[first].request->done())) {
      if (pending[first].request) {
        if (auto error = pending[first].request->error()) std::rethrow_exception(error);
      }
      ++first;
    }
    if (first == pending.size()) return;
    const auto now = Clock::now();
    if (now >= deadline_) {
      rethrow_failed(first);
      std::vector<int> missing;
      for (size_t i = first; i < pending.size(); ++i) {
        if (pending[i].request && !pending[i].request->done()) {
          missing.push_back(group_rank(pending[i].peer));
        }
      }
      std::sort(missing.begin(), missing.end());
      missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
      std::string names;
      for (int peer : missing) names += (names.empty() ? "" : ", ") + std::to_string(peer);
      throw TimeoutError(describe() + " on rank " + std::to_string(context_.rank()) +
                         " timed out waiting for rank" + (missing.size() > 1 ? "s " : " ") + names);
    }
    if (!wait_until_deadline(*pending[first].request, std::min(deadline_, now + kSlice))) {
      rethrow_failed(first + 1);
    }
  }
}

void Comm::abort(std::exception_ptr why) {
  context_.abort(std::move(why));
}

void Comm::send(int peer, int64_t step, std::span<const std::byte> bytes) {
  wait(isend(peer, step, bytes), peer);
}

void Comm::recv(int peer, int64_t step, std::span<std::byte> bytes) {
  wait(irecv(peer, step, bytes), peer);
}

std::string Comm::describe() const {
  return std::string(op_kind_name(kind())) + " #" + std::to_string(seq_);
}

}  // namespace baton::collectives
