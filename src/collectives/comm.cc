#include "collectives/comm.hpp"

#include "baton/error.hpp"

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
           Clock::time_point deadline)
    : context_(context), seq_(seq), op_(op), deadline_(deadline) {}

transport::RequestPtr Comm::isend(int peer, int64_t step, std::span<const std::byte> bytes) {
  return context_.isend(peer, {transport::Channel::kCollective, seq_, step, op_}, bytes);
}

transport::RequestPtr Comm::irecv(int peer, int64_t step, std::span<std::byte> bytes) {
  return context_.irecv(peer, {transport::Channel::kCollective, seq_, step, op_}, bytes);
}

void Comm::wait(const transport::RequestPtr& request, int peer) {
  if (!request->wait_until(deadline_)) {
    throw TimeoutError(describe() + " on rank " + std::to_string(rank()) +
                       " timed out waiting for rank " + std::to_string(peer));
  }
  if (auto error = request->error()) std::rethrow_exception(error);
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
