// The routing context over shm and tcp; see context.hpp and factory.hpp.
#include "transport/mixed/context.hpp"

#include "baton/error.hpp"
#include "transport/mixed/factory.hpp"

namespace baton::transport::mixed {

RoutingContext::RoutingContext(std::unique_ptr<Context> shm, std::unique_ptr<Context> tcp,
                               std::vector<int> host_of)
    : shm_(std::move(shm)),
      tcp_(std::move(tcp)),
      host_of_(std::move(host_of)) {
  if (!shm_ || !tcp_ || shm_->rank() != tcp_->rank() || shm_->size() != tcp_->size() ||
      host_of_.size() != static_cast<size_t>(tcp_->size())) {
    throw InvalidArgument(
        "routing context: the shm and tcp contexts must belong to one group (same rank and "
        "size) and host_of must have one entry per rank");
  }
}

RoutingContext::~RoutingContext() {
  // Close shm first: same-host peers then see this rank leave at once.
  shm_.reset();
  tcp_.reset();
}

std::string RoutingContext::peer_transport(int peer) const {
  if (peer < 0 || peer >= size()) return "";
  return same_host(peer) ? "shm" : "tcp";
}

Context& RoutingContext::route(int peer, const Envelope& envelope) const {
  if (envelope.channel == Channel::kCollective && peer >= 0 && peer < size() &&
      peer != rank() && same_host(peer)) {
    return *shm_;
  }
  return *tcp_;  // p2p (kAnySource included), other hosts, and invalid peers (tcp reports them)
}

RequestPtr RoutingContext::isend(int peer, const Envelope& envelope,
                                 std::span<const std::byte> payload) {
  return route(peer, envelope).isend(peer, envelope, payload);
}

RequestPtr RoutingContext::irecv(int peer, const Envelope& envelope, std::span<std::byte> buffer) {
  return route(peer, envelope).irecv(peer, envelope, buffer);
}

void RoutingContext::abort(std::exception_ptr why) {
  shm_->abort(why);
  tcp_->abort(why);
}

}  // namespace baton::transport::mixed

namespace baton::transport {

std::unique_ptr<Context> make_routing_context(std::unique_ptr<Context> shm,
                                              std::unique_ptr<Context> tcp,
                                              std::vector<int> host_of) {
  return std::make_unique<mixed::RoutingContext>(std::move(shm), std::move(tcp),
                                                 std::move(host_of));
}

std::unique_ptr<Context> make_mixed_context(Store& store, const std::string& group_key, int rank,
                                            int size, const std::vector<int>& host_of,
                                            ShmOptions shm, const TcpOptions& tcp) {
  if (host_of.size() != static_cast<size_t>(size) || rank < 0 || rank >= size) {
    throw InvalidArgument("mixed transport: host_of has " + std::to_string(host_of.size()) +
                          " entries for a group of " + std::to_string(size) + " ranks");
  }
  shm.members.clear();
  for (int r = 0; r < size; ++r) {
    if (host_of[static_cast<size_t>(r)] == host_of[static_cast<size_t>(rank)]) {
      shm.members.push_back(r);
    }
  }
  // Both set up through the store; tcp first, so that a rank that cannot be
  // reached at all is reported as tcp reports it.
  auto tcp_context = make_tcp_context(store, group_key, rank, size, tcp);
  auto shm_context = make_shm_context(store, group_key, rank, size, shm);
  return make_routing_context(std::move(shm_context), std::move(tcp_context), host_of);
}

}  // namespace baton::transport
