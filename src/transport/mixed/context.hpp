// RoutingContext: one Context over a shm context (same-host peers) and a tcp
// context (the whole group); the routing rule is in mixed/factory.hpp.
//
// Thread safety: as transport.hpp; the wrapped contexts are never replaced.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "transport/transport.hpp"

namespace baton::transport::mixed {

class RoutingContext final : public Context {
 public:
  // host_of[r]: the host of group rank r (mixed/factory.hpp).
  RoutingContext(std::unique_ptr<Context> shm, std::unique_ptr<Context> tcp,
                 std::vector<int> host_of);
  ~RoutingContext() override;

  int rank() const override { return tcp_->rank(); }
  int size() const override { return tcp_->size(); }
  std::string name() const override { return "shm+tcp"; }
  // "shm" for same-host peers (their collective traffic), "tcp" for others.
  std::string peer_transport(int peer) const override;
  RequestPtr isend(int peer, const Envelope& envelope, std::span<const std::byte> payload) override;
  RequestPtr irecv(int peer, const Envelope& envelope, std::span<std::byte> buffer) override;
  void abort(std::exception_ptr why) override;
  // Both transports check what their peers send (a divergence found by one
  // aborts it; the backend's failure of the operation then aborts both).
  void begin_op(uint64_t seq, const OpDesc& op) override {
    shm_->begin_op(seq, op);
    tcp_->begin_op(seq, op);
  }
  // The shm context's area covers this host only: no whole-group area.
  SharedArea* shared_area() override { return nullptr; }
  std::span<const int> hosts() const override { return host_of_; }
  SharedArea* host_area() override { return shm_->host_area(); }

 private:
  Context& route(int peer, const Envelope& envelope) const;
  // Whether group rank `peer` (in range) runs on this rank's host.
  bool same_host(int peer) const {
    return host_of_[static_cast<size_t>(peer)] == host_of_[static_cast<size_t>(rank())];
  }

  std::unique_ptr<Context> shm_;
  std::unique_ptr<Context> tcp_;
  const std::vector<int> host_of_;  // by group rank
};

}  // namespace baton::transport::mixed
