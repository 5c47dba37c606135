// NativeBackend: Baton's own engine, a transport Context plus the algorithms
// of src/collectives/.
//
// Threads (docs/thread_model.md):
//  - Point-to-point operations are posted on the transport from the caller's
//    thread; their Work completes when the transport Request does.
//  - Collectives run one at a time, in the order they were issued, each with
//    the group's next sequence number (1, 2, ...). An asynchronous collective
//    goes to the group's worker thread (started at the first one). A blocking
//    collective (backends::BlockingCall) runs on the caller's thread when
//    nothing of the group is queued or running, and is queued otherwise.
//  - Each collective gets a deadline of its issue time plus the group's
//    timeout; the algorithm's waits end there with a TimeoutError naming the
//    operation and the rank it still waits for.
//
// Diagnosis: a collective that times out may be one that other ranks are
// not running at all (they called another collective, or the same with other
// sizes, and no frame of theirs reached this rank, so the transport could not
// tell), or one that some rank never started. On its first failure by
// TimeoutError (its own, or one a peer aborted the group with), each rank
// writes the operation it was running under "diag/<rank>" in the group's
// store, then reads the others' entries for a short grace (a quarter of the
// timeout, between 0.25 and 3 s). Operations that disagree turn the error
// into a MismatchError naming the operations and the ranks running each;
// otherwise the TimeoutError is extended with the ranks still missing (no
// entry, or an entry for an earlier operation). Nothing of this runs on the
// success path.
//
// Failure is sticky, as in Gloo: the first error of a collective (a mismatch
// the transport detected, a dead peer, a timeout) fails its Work, aborts the
// transport with that error (which tells the peers, so every rank fails with
// it) and fails every later operation of the group at once with the same
// error. A point-to-point Work whose wait() outlives the group's timeout
// fails the group the same way, so no transfer can still touch its tensor.
//
// Thread safety: every method may be called from any thread; collectives are
// started in the order of the calls.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.hpp"
#include "backends/flight_recorder.hpp"
#include "backends/work_state.hpp"
#include "baton/store.hpp"
#include "collectives/comm.hpp"
#include "collectives/settings.hpp"
#include "transport/transport.hpp"

namespace baton::backends::native {

struct NativeOptions {
  std::string group_name = "world";  // for messages
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  // The group's namespace in the job's store, used only after a collective
  // timed out (see "Diagnosis" above); null: no diagnosis.
  std::shared_ptr<Store> store;
  // Each group rank's world rank, for the flight recorder's dumps (empty: 0 .. size-1).
  std::vector<int> world_ranks;
};

class NativeBackend final : public Backend, public std::enable_shared_from_this<NativeBackend> {
 public:
  NativeBackend(std::unique_ptr<transport::Context> context, NativeOptions options);
  ~NativeBackend() override;
  NativeBackend(const NativeBackend&) = delete;
  NativeBackend& operator=(const NativeBackend&) = delete;

  std::string name() const override { return "native"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  // The transport's name ("tcp", "shm", "shm+tcp").
  std::string transport_name() const { return transport_name_; }
  // Per group rank: "self", or the transport that reaches it (from the context).
  std::vector<std::string> peer_transports() const override { return peer_transports_; }

  Work send(const Tensor& tensor, int dst, int tag) override;
  Work recv(Tensor& tensor, int src, int tag) override;

  Work broadcast(Tensor& tensor, int root) override;
  Work all_reduce(Tensor& tensor, ReduceOp op) override;
  Work reduce(Tensor& tensor, int root, ReduceOp op) override;
  Work all_gather(std::vector<Tensor>& outputs, const Tensor& input) override;
  Work gather(const Tensor& input, std::vector<Tensor>& outputs, int root) override;
  Work scatter(Tensor& output, const std::vector<Tensor>& inputs, int root) override;
  Work reduce_scatter(Tensor& output, const std::vector<Tensor>& inputs, ReduceOp op) override;
  Work all_to_all(std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs) override;
  Work barrier() override;

  // fail_group(why): the transport's abort tells the peers.
  void abort(std::exception_ptr why) override { fail_group(std::move(why)); }
  // Waits (up to the timeout) for queued and running collectives and for
  // sends in flight, then closes the connections. Pending receives fail with
  // ConnectionError. Later operations fail with InvalidArgument. Idempotent.
  void shutdown() override;

  // Marks the group failed with `why` (the first reason wins) and aborts the
  // transport with it, which tells the peers. Returns whether `why` won.
  bool fail_group(std::exception_ptr why);
  // The group's sticky error; nullptr while healthy.
  std::exception_ptr failure() const;

 private:
  using Clock = std::chrono::steady_clock;
  using Body = std::function<void(collectives::Comm&)>;

  struct Op {
    uint64_t seq = 0;
    transport::OpDesc desc;
    Clock::time_point deadline;
    Body body;
    std::shared_ptr<detail::WorkState> work;
    uint64_t flight_ticket = 0;  // its entry in the flight recorder
  };

  // A point-to-point request in flight (its completion callback holds the
  // tensor it reads or writes, so the tensor lives until it completes even
  // when the caller drops the Work).
  struct InFlight {
    transport::RequestPtr request;
    bool is_send = false;
  };

  Work submit(transport::OpDesc desc, Body body);
  // The error a collective that failed with `error` reports (see Diagnosis).
  std::exception_ptr diagnose(const Op& op, std::exception_ptr error);
  // Runs op; returns its error (nullptr on success). Does not touch op.work.
  // An op not `just_issued` (it waited in the queue) first checks that its
  // deadline has not passed.
  std::exception_ptr execute(Op& op, bool just_issued);
  void worker_loop();
  Work post_p2p(const Tensor& tensor, int peer, int tag, bool is_send);
  std::string describe(const transport::OpDesc& desc, uint64_t seq) const;
  std::exception_ptr destroyed_error(std::string_view what) const;

  const int rank_;
  const int size_;
  const std::string transport_name_;
  const NativeOptions options_;
  // options_.group_name, shared with the lazy descriptions of point-to-point
  // Works (which may outlive the backend).
  const std::shared_ptr<const std::string> group_name_;
  // The collectives' tunables (BATON_ALGO_*, segment sizes), read once.
  const collectives::Settings settings_;
  // The last operations of this group (flight_recorder.hpp); null when off.
  const std::shared_ptr<FlightRecorder> recorder_;

  // Held shared by every use of context_, exclusively to destroy it.
  mutable std::shared_mutex context_mu_;
  std::unique_ptr<transport::Context> context_;  // GUARDED_BY(context_mu_)
  std::vector<std::string> peer_transports_;     // set at construction, then read-only

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // queue_ gained an op, busy_ cleared, or stopping_
  std::deque<Op> queue_;             // GUARDED_BY(mu_)
  bool busy_ = false;                // a collective is running; GUARDED_BY(mu_)
  bool stopping_ = false;            // GUARDED_BY(mu_)
  uint64_t last_seq_ = 0;            // GUARDED_BY(mu_)
  std::exception_ptr failure_;       // GUARDED_BY(mu_)
  std::thread worker_;               // started at the first queued op; GUARDED_BY(mu_)

  std::mutex in_flight_mu_;
  std::vector<InFlight> in_flight_;  // GUARDED_BY(in_flight_mu_)
  size_t in_flight_sweep_at_ = 64;   // GUARDED_BY(in_flight_mu_)
};

}  // namespace baton::backends::native
