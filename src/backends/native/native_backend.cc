// NativeBackend: collectives in issue order on a worker (or the caller's
// thread), point-to-point straight on the transport, sticky failure.
#include "backends/native/native_backend.hpp"

#include <algorithm>

#include "backends/blocking_call.hpp"
#include "backends/native/diagnosis.hpp"
#include "baton/error.hpp"
#include "collectives/dispatch.hpp"
#include "core/describe.hpp"
#include "core/log.hpp"

namespace baton::backends::native {
namespace {

using collectives::Bytes;
using collectives::ConstBytes;
using collectives::OpKind;

constexpr auto kSubsys = log::Subsys::kColl;

// How long Work::wait() on a collective waits past the operation's deadline
// for the backend's own, more precise, error before giving up on its own.
constexpr auto kWaitGrace = std::chrono::seconds(5);

Bytes bytes_of(const Tensor& t) {
  return {static_cast<std::byte*>(t.data_ptr()), t.nbytes()};
}
ConstBytes const_bytes_of(const Tensor& t) {
  return {static_cast<const std::byte*>(t.data_ptr()), t.nbytes()};
}

std::vector<Bytes> bytes_of(const std::vector<Tensor>& list) {
  std::vector<Bytes> out;
  out.reserve(list.size());
  for (const auto& t : list) out.push_back(bytes_of(t));
  return out;
}

std::vector<ConstBytes> const_bytes_of(const std::vector<Tensor>& list) {
  std::vector<ConstBytes> out;
  out.reserve(list.size());
  for (const auto& t : list) out.push_back(const_bytes_of(t));
  return out;
}

transport::OpDesc make_desc(OpKind kind, const Tensor* tensor, int root = -1,
                            std::optional<ReduceOp> op = std::nullopt) {
  transport::OpDesc desc;
  desc.kind = static_cast<uint8_t>(kind);
  if (tensor != nullptr) {
    desc.dtype = static_cast<uint8_t>(tensor->dtype());
    desc.count = static_cast<uint64_t>(tensor->numel());
  }
  desc.reduce_op = op ? static_cast<uint8_t>(*op) : 0;
  desc.root = root;
  return desc;
}

}  // namespace

NativeBackend::NativeBackend(std::unique_ptr<transport::Context> context, NativeOptions options)
    : rank_(context->rank()),
      size_(context->size()),
      transport_name_(context->name()),
      options_(std::move(options)),
      group_name_(std::make_shared<const std::string>(options_.group_name)),
      settings_(collectives::Settings::from_config()),
      recorder_(FlightRecorder::make({.group_name = options_.group_name,
                                      .rank = rank_,
                                      .size = size_,
                                      .world_ranks = options_.world_ranks,
                                      .transport = transport_name_})),
      context_(std::move(context)) {
  for (int r = 0; r < size_; ++r) {
    peer_transports_.push_back(r == rank_ ? std::string("self") : context_->peer_transport(r));
  }
}

NativeBackend::~NativeBackend() {
  try {
    shutdown();
  } catch (const std::exception& e) {
    BATON_LOG_WARN(kSubsys) << options_.group_name << ": shutdown failed: " << e.what();
  }
}

std::exception_ptr NativeBackend::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

bool NativeBackend::fail_group(std::exception_ptr why) {
  {
    std::lock_guard lock(mu_);
    if (failure_) return false;
    failure_ = why;
  }
  const std::string reason = error_message(why);
  BATON_LOG_INFO(kSubsys) << options_.group_name << " rank " << rank_ << " failed: " << reason;
  // Every rank whose group fails writes what it was doing (before the
  // transport's abort, so the operations in flight still show as started).
  if (recorder_) dump_flight_records((options_.group_name + ": " + reason).c_str());
  std::shared_lock lock(context_mu_);
  if (context_) context_->abort(std::move(why));
  return true;
}

std::exception_ptr NativeBackend::destroyed_error(std::string_view what) const {
  return std::make_exception_ptr(
      InvalidArgument(std::string(what) + ": " + options_.group_name +
                      " was destroyed (destroy_process_group() or destroy_group())"));
}

std::string NativeBackend::describe(const transport::OpDesc& desc, uint64_t seq) const {
  return std::string(collectives::op_kind_name(static_cast<OpKind>(desc.kind))) + " #" +
         std::to_string(seq) + " on " + options_.group_name;
}

// --- point to point ---

namespace {
// "send to rank 1 (tag 0) on world", "recv from any rank (tag 3) on g".
std::string describe_p2p(bool is_send, int peer, int tag, const std::string& group) {
  return std::string(is_send ? "send to rank " : "recv from ") +
         (is_send || peer >= 0 ? (is_send ? "" : "rank ") + std::to_string(peer) : "any rank") +
         " (tag " + std::to_string(tag) + ") on " + group;
}
}  // namespace

// The fast path (a healthy group, a send written at once or a receive that
// found its message) builds no string, attaches no callback and takes no
// lock but the context's shared one: the description is made only when an
// error or a timeout needs it.
Work NativeBackend::post_p2p(const Tensor& tensor, int peer, int tag, bool is_send) {
  if (auto error = failure()) {
    const std::string what = describe_p2p(is_send, peer, tag, options_.group_name);
    return Work(detail::WorkState::failed(error, what));
  }

  transport::RequestPtr request;
  uint64_t flight_ticket = 0;
  {
    std::shared_lock lock(context_mu_);
    if (!context_) {
      const std::string what = describe_p2p(is_send, peer, tag, options_.group_name);
      return Work(detail::WorkState::failed(destroyed_error(what), what));
    }
    const transport::Envelope envelope{transport::Channel::kP2P, 0, tag, {}};
    if (recorder_) {
      FlightOp op{.desc = make_desc(collectives::OpKind::kPointToPoint, &tensor),
                  .bytes = tensor.nbytes(),
                  .peer = peer,
                  .tag = tag,
                  .is_send = is_send};
      flight_ticket = recorder_->issued(op, FlightState::kPosted);
    }
    if (is_send) {
      request = context_->isend(peer, envelope, const_bytes_of(tensor));
    } else {
      request = context_->irecv(peer, envelope, bytes_of(tensor));
    }
  }
  if (request->done()) {
    if (recorder_) recorder_->ended(flight_ticket, !request->error());
    // The transport is done with the tensor, and shutdown has nothing to
    // wait for. A send that succeeded needs no state at all.
    if (is_send && !request->error()) return Work();
  } else {
    // Keep the tensor alive until the transport is done with it, even if the
    // caller drops the Work: the request's completion releases it.
    if (recorder_) {
      request->on_done([tensor, recorder = recorder_, flight_ticket, raw = request.get()] {
        recorder->ended(flight_ticket, !raw->error());
      });
    } else {
      request->on_done([tensor] {});
    }
    // Requests in flight, for shutdown. Completed entries are swept now and then.
    std::lock_guard lock(in_flight_mu_);
    if (in_flight_.size() >= in_flight_sweep_at_) {
      std::erase_if(in_flight_, [](const InFlight& f) { return f.request->done(); });
      in_flight_sweep_at_ = std::max<size_t>(64, 2 * in_flight_.size());
    }
    in_flight_.push_back({request, is_send});
  }
  std::weak_ptr<NativeBackend> weak = weak_from_this();
  std::optional<size_t> expected;
  if (!is_send) expected = tensor.nbytes();
  return Work(detail::WorkState::for_request(
      std::move(request), !is_send,
      {.describe = [is_send, peer, tag,
                    group = group_name_] { return describe_p2p(is_send, peer, tag, *group); },
       .wait_timeout = options_.timeout,
       .on_expiry =
           [weak](std::exception_ptr why) {
             if (auto self = weak.lock()) self->fail_group(std::move(why));
           },
       .expected_bytes = expected}));
}

Work NativeBackend::send(const Tensor& tensor, int dst, int tag) {
  return post_p2p(tensor, dst, tag, true);
}

Work NativeBackend::recv(Tensor& tensor, int src, int tag) {
  return post_p2p(tensor, src, tag, false);
}

// --- collectives ---

Work NativeBackend::submit(transport::OpDesc desc, Body body) {
  const auto deadline = Clock::now() + options_.timeout;
  const bool blocking = BlockingCall::active();
  Op op{.seq = 0, .desc = desc, .deadline = deadline, .body = std::move(body), .work = nullptr};
  std::weak_ptr<NativeBackend> weak = weak_from_this();
  std::shared_ptr<detail::WorkState> work;
  {
    std::unique_lock lock(mu_);
    if (stopping_) {
      const std::string what = describe(desc, last_seq_ + 1);
      return Work(detail::WorkState::failed(destroyed_error(what), what));
    }
    op.seq = ++last_seq_;
    const bool run_here = blocking && queue_.empty() && !busy_;
    if (recorder_) {
      const uint64_t bytes = desc.count * element_size(static_cast<DType>(desc.dtype));
      op.flight_ticket = recorder_->issued({.seq = op.seq, .desc = desc, .bytes = bytes},
                                           run_here ? FlightState::kStarted : FlightState::kIssued);
    }
    if (run_here) {
      busy_ = true;
    } else {
      op.work = std::make_shared<detail::WorkState>(
          detail::WorkState::Options{.description = describe(desc, op.seq),
                                     .deadline = deadline + kWaitGrace,
                                     .on_expiry = [weak](std::exception_ptr why) {
                                       if (auto self = weak.lock())
                                         self->fail_group(std::move(why));
                                     }});
      work = op.work;
      queue_.push_back(std::move(op));
      if (!worker_.joinable()) worker_ = std::thread([this] { worker_loop(); });
    }
  }
  if (work) {
    work_cv_.notify_all();
    return Work(std::move(work));
  }
  // A blocking call with nothing of the group ahead of it: run it here. It
  // is over when it returns, so success needs no state at all.
  std::exception_ptr error = execute(op, /*just_issued=*/true);
  {
    std::lock_guard lock(mu_);
    busy_ = false;
  }
  work_cv_.notify_all();
  if (!error) return Work();
  return Work(detail::WorkState::failed(std::move(error), describe(op.desc, op.seq)));
}

std::exception_ptr NativeBackend::execute(Op& op, bool just_issued) {
  if (auto error = failure()) {
    if (recorder_) recorder_->ended(op.flight_ticket, false);
    return error;
  }
  if (recorder_ && !just_issued) recorder_->started(op.flight_ticket);
  std::exception_ptr error;
  uint8_t algorithm = 0;
  try {
    if (!just_issued && Clock::now() >= op.deadline) {
      throw TimeoutError(describe(op.desc, op.seq) + " on rank " + std::to_string(rank_) +
                         " did not start within the group's timeout of " +
                         describe_duration(options_.timeout) +
                         ": the operations issued before it took that long");
    }
    std::shared_lock lock(context_mu_);
    collectives::Comm comm(*context_, op.seq, op.desc, op.deadline, &settings_);
    try {
      op.body(comm);
    } catch (...) {
      algorithm = comm.op().algorithm;
      throw;
    }
    algorithm = comm.op().algorithm;
  } catch (...) {
    error = std::current_exception();
  }
  op.body = nullptr;  // release the tensors now, not when the Op is destroyed
  if (!error) {
    if (recorder_) recorder_->ended(op.flight_ticket, true, algorithm);
    return nullptr;
  }
  // The first failure aborts the transport at once, so the peers stop waiting
  // (and diagnose too), then may be refined into the error every rank reports.
  const bool first = fail_group(error);
  if (recorder_) recorder_->ended(op.flight_ticket, false, algorithm);
  if (first && error_code(error) == ErrorCode::kTimeout) {
    error = diagnose(op, error);
    std::lock_guard lock(mu_);
    failure_ = error;
  }
  return error;
}

std::exception_ptr NativeBackend::diagnose(const Op& op, std::exception_ptr error) {
  if (!options_.store) return error;
  // Long enough for the other ranks that timed out too to post what they
  // run, short enough that the error stays within the timeout + 1 s (the
  // agreement probes already caught ranks that disagree).
  const auto grace = std::clamp<std::chrono::milliseconds>(
      options_.timeout / 10, std::chrono::milliseconds(100), std::chrono::milliseconds(500));
  return diagnose_timeout(*options_.store, rank_, size_, DiagEntry{op.seq, op.desc},
                          std::move(error), options_.group_name, grace);
}

void NativeBackend::worker_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock,
                  [&] { return (!busy_ && !queue_.empty()) || (stopping_ && queue_.empty()); });
    if (queue_.empty()) return;  // stopping, and everything queued has run
    Op op = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    if (auto error = execute(op, /*just_issued=*/false)) {
      op.work->fail(std::move(error));
    } else {
      op.work->complete();
    }
    lock.lock();
    busy_ = false;
    work_cv_.notify_all();
  }
}

Work NativeBackend::broadcast(Tensor& tensor, int root) {
  return submit(make_desc(OpKind::kBroadcast, &tensor, root),
                [tensor, root](collectives::Comm& comm) {
                  collectives::run_broadcast(comm, bytes_of(tensor), root);
                });
}

Work NativeBackend::all_reduce(Tensor& tensor, ReduceOp op) {
  return submit(make_desc(OpKind::kAllReduce, &tensor, -1, op),
                [tensor, op](collectives::Comm& comm) {
                  collectives::run_all_reduce(comm, bytes_of(tensor), tensor.dtype(), op);
                });
}

Work NativeBackend::reduce(Tensor& tensor, int root, ReduceOp op) {
  return submit(make_desc(OpKind::kReduce, &tensor, root, op),
                [tensor, root, op](collectives::Comm& comm) {
                  collectives::run_reduce(comm, bytes_of(tensor), tensor.dtype(), op, root);
                });
}

Work NativeBackend::all_gather(std::vector<Tensor>& outputs, const Tensor& input) {
  return submit(make_desc(OpKind::kAllGather, &input), [outputs, input](collectives::Comm& comm) {
    const auto out = bytes_of(outputs);
    collectives::run_all_gather(comm, const_bytes_of(input), out);
  });
}

Work NativeBackend::gather(const Tensor& input, std::vector<Tensor>& outputs, int root) {
  std::vector<Tensor> list = rank_ == root ? outputs : std::vector<Tensor>{};
  return submit(make_desc(OpKind::kGather, &input, root),
                [list = std::move(list), input, root](collectives::Comm& comm) {
                  const auto out = bytes_of(list);
                  collectives::run_gather(comm, const_bytes_of(input), out, root);
                });
}

Work NativeBackend::scatter(Tensor& output, const std::vector<Tensor>& inputs, int root) {
  std::vector<Tensor> list = rank_ == root ? inputs : std::vector<Tensor>{};
  return submit(make_desc(OpKind::kScatter, &output, root),
                [list = std::move(list), output, root](collectives::Comm& comm) {
                  const auto in = const_bytes_of(list);
                  collectives::run_scatter(comm, in, bytes_of(output), root);
                });
}

Work NativeBackend::reduce_scatter(Tensor& output, const std::vector<Tensor>& inputs, ReduceOp op) {
  return submit(make_desc(OpKind::kReduceScatter, &output, -1, op),
                [inputs, output, op](collectives::Comm& comm) {
                  const auto in = const_bytes_of(inputs);
                  collectives::run_reduce_scatter(comm, in, bytes_of(output), output.dtype(), op);
                });
}

Work NativeBackend::all_to_all(std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs) {
  // Per-pair sizes may differ, so only the dtype is part of the description;
  // the transport checks each message's length against its receive.
  transport::OpDesc desc = make_desc(OpKind::kAllToAll, &inputs.front());
  desc.count = 0;
  return submit(desc, [outputs, inputs](collectives::Comm& comm) {
    const auto in = const_bytes_of(inputs);
    const auto out = bytes_of(outputs);
    collectives::run_all_to_all(comm, in, out);
  });
}

Work NativeBackend::barrier() {
  return submit(make_desc(OpKind::kBarrier, nullptr),
                [](collectives::Comm& comm) { collectives::run_barrier(comm); });
}

// --- lifetime ---

void NativeBackend::shutdown() {
  const auto deadline = Clock::now() + options_.timeout;
  std::thread worker;
  {
    std::unique_lock lock(mu_);
    stopping_ = true;
    worker = std::move(worker_);
  }
  work_cv_.notify_all();
  if (worker.joinable()) worker.join();  // runs what was queued, each op bounded by its deadline
  {
    // A blocking collective may still be running on a caller's thread.
    std::unique_lock lock(mu_);
    work_cv_.wait_until(lock, deadline, [&] { return !busy_; });
  }
  std::vector<InFlight> in_flight;
  {
    std::lock_guard lock(in_flight_mu_);
    in_flight.swap(in_flight_);
  }
  // Let sends in flight reach their peers before the connections close.
  for (const auto& f : in_flight) {
    if (f.is_send) f.request->wait_until(deadline);
  }
  std::unique_ptr<transport::Context> context;
  {
    std::unique_lock lock(context_mu_);
    context = std::move(context_);
  }
  context.reset();  // fails receives still pending, which releases their tensors
}

}  // namespace baton::backends::native
