// Collectives: check every argument, start the operation on the group's
// backend, and wait for it unless baton::async_op was given.
//
// The tensor forms torch uses (all_gather_into_tensor, reduce_scatter_tensor,
// all_to_all_single) are the list forms over views of one tensor, so they
// cost nothing extra. all_reduce_coalesced packs the tensors of each dtype
// into one buffer, reduces it, and unpacks in the reduction's completion.
#include <algorithm>
#include <atomic>

#include "api/checks.hpp"
#include "api/group_state.hpp"
#include "backends/blocking_call.hpp"
#include "backends/work_state.hpp"
#include "baton/distributed.hpp"

namespace baton {
namespace {

// Starts an operation (start() calls the backend) and waits for it when the
// call is blocking. The BlockingCall hint lets the backend run a blocking
// operation on this thread.
template <class Start>
Work run(AsyncOp async, Start&& start) {
  Work work;
  {
    backends::BlockingCall hint(!async.value);
    work = start();
  }
  if (!async.value) work.wait();
  return work;
}

// size() views of `n` elements each, one after another.
std::vector<Tensor> blocks(const Tensor& t, int64_t n, int count) {
  std::vector<Tensor> out;
  out.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) out.push_back(t.narrow(i * n, n));
  return out;
}

// Views of consecutive blocks of the given element counts.
std::vector<Tensor> blocks(const Tensor& t, const std::vector<int64_t>& counts) {
  std::vector<Tensor> out;
  out.reserve(counts.size());
  int64_t at = 0;
  for (int64_t n : counts) {
    out.push_back(t.narrow(at, n));
    at += n;
  }
  return out;
}

// The tensors of one dtype of an all_reduce_coalesced, and their packing.
struct Pack {
  std::vector<Tensor> members;
  Tensor flat;
  void pack() {
    int64_t at = 0;
    for (const Tensor& t : members) {
      flat.narrow(at, t.numel()).copy_(t);
      at += t.numel();
    }
  }
  void unpack() {
    int64_t at = 0;
    for (Tensor& t : members) {
      t.copy_(flat.narrow(at, t.numel()));
      at += t.numel();
    }
  }
};

std::vector<std::shared_ptr<Pack>> make_packs(const std::vector<Tensor>& tensors) {
  std::vector<std::shared_ptr<Pack>> packs;
  for (const Tensor& t : tensors) {
    auto it = std::find_if(packs.begin(), packs.end(),
                           [&](const auto& p) { return p->members[0].dtype() == t.dtype(); });
    if (it == packs.end()) {
      packs.push_back(std::make_shared<Pack>());
      it = packs.end() - 1;
    }
    (*it)->members.push_back(t);
  }
  for (auto& p : packs) {
    int64_t total = 0;
    for (const Tensor& t : p->members) total += t.numel();
    p->flat = Tensor::empty({total}, p->members[0].dtype(), p->members[0].device());
    p->pack();
  }
  return packs;
}

constexpr std::chrono::seconds kCoalescedWaitGrace{2};

}  // namespace

Work broadcast(Tensor& tensor, int src, const Group& group, AsyncOp async) {
  auto backend = api::check_broadcast(tensor, src, group);
  return run(async, [&] { return backend->broadcast(tensor, src); });
}

Work all_reduce(Tensor& tensor, ReduceOp op, const Group& group, AsyncOp async) {
  auto backend = api::check_all_reduce(tensor, op, group);
  return run(async, [&] { return backend->all_reduce(tensor, op); });
}

Work reduce(Tensor& tensor, int dst, ReduceOp op, const Group& group, AsyncOp async) {
  auto backend = api::check_reduce(tensor, dst, op, group);
  return run(async, [&] { return backend->reduce(tensor, dst, op); });
}

Work all_gather(std::vector<Tensor>& outputs, const Tensor& input, const Group& group,
                AsyncOp async) {
  auto backend = api::check_all_gather(outputs, input, group);
  return run(async, [&] { return backend->all_gather(outputs, input); });
}

Work gather(const Tensor& input, std::vector<Tensor>& gather_list, int dst, const Group& group,
            AsyncOp async) {
  auto backend = api::check_gather(input, gather_list, dst, group);
  return run(async, [&] { return backend->gather(input, gather_list, dst); });
}

Work scatter(Tensor& output, const std::vector<Tensor>& scatter_list, int src, const Group& group,
             AsyncOp async) {
  auto backend = api::check_scatter(output, scatter_list, src, group);
  return run(async, [&] { return backend->scatter(output, scatter_list, src); });
}

Work reduce_scatter(Tensor& output, const std::vector<Tensor>& inputs, ReduceOp op,
                    const Group& group, AsyncOp async) {
  auto backend = api::check_reduce_scatter(output, inputs, op, group);
  return run(async, [&] { return backend->reduce_scatter(output, inputs, op); });
}

Work all_to_all(std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs, const Group& group,
                AsyncOp async) {
  auto backend = api::check_all_to_all(outputs, inputs, group);
  return run(async, [&] { return backend->all_to_all(outputs, inputs); });
}

Work barrier(const Group& group, AsyncOp async) {
  auto backend = api::check_group("barrier", group);
  return run(async, [&] { return backend->barrier(); });
}

Work all_gather_into_tensor(Tensor& output, const Tensor& input, const Group& group,
                            AsyncOp async) {
  auto backend = api::check_all_gather_into_tensor(output, input, group);
  std::vector<Tensor> outputs = blocks(output, input.numel(), group.size());
  return run(async, [&] { return backend->all_gather(outputs, input); });
}

Work reduce_scatter_tensor(Tensor& output, const Tensor& input, ReduceOp op, const Group& group,
                           AsyncOp async) {
  auto backend = api::check_reduce_scatter_tensor(output, input, op, group);
  const std::vector<Tensor> inputs = blocks(input, output.numel(), group.size());
  return run(async, [&] { return backend->reduce_scatter(output, inputs, op); });
}

Work all_to_all_single(Tensor& output, const Tensor& input,
                       const std::vector<int64_t>& output_split_sizes,
                       const std::vector<int64_t>& input_split_sizes, const Group& group,
                       AsyncOp async) {
  constexpr std::string_view kOp = "all_to_all_single";
  auto backend = api::check_all_to_all_single(output, input, group);
  const auto out_counts = api::split_elements(kOp, "output", output, output_split_sizes, group);
  const auto in_counts = api::split_elements(kOp, "input", input, input_split_sizes, group);
  const auto self = static_cast<size_t>(group.rank());
  if (out_counts[self] != in_counts[self]) {
    throw InvalidArgument(std::string(kOp) + ": this rank (" + std::to_string(group.rank()) +
                          ") sends itself " + std::to_string(in_counts[self]) +
                          " elements but makes room for " + std::to_string(out_counts[self]) +
                          "; its own input and output split sizes must agree");
  }
  std::vector<Tensor> outputs = blocks(output, out_counts);
  const std::vector<Tensor> inputs = blocks(input, in_counts);
  return run(async, [&] { return backend->all_to_all(outputs, inputs); });
}

Work all_reduce_coalesced(std::vector<Tensor>& tensors, ReduceOp op, const Group& group,
                          AsyncOp async) {
  auto backend = api::check_all_reduce_coalesced(tensors, op, group);
  if (tensors.empty()) return Work();
  if (tensors.size() == 1) return run(async, [&] { return backend->all_reduce(tensors[0], op); });
  const auto packs = make_packs(tensors);
  if (!async.value) {
    for (const auto& p : packs) {
      run(async, [&] { return backend->all_reduce(p->flat, op); });
      p->unpack();
    }
    return Work();
  }
  // One Work over every pack: done when the last pack has been unpacked,
  // failed with the first pack's error.
  const auto timeout = group.state()->timeout();
  auto whole = std::make_shared<detail::WorkState>(detail::WorkState::Options{
      .description = "all_reduce_coalesced of " + std::to_string(tensors.size()) + " tensors on " +
                     group.state()->name(),
      .deadline = detail::WorkState::Clock::now() + timeout + kCoalescedWaitGrace,
      .on_expiry = [weak = std::weak_ptr<backends::Backend>(backend)](std::exception_ptr why) {
        if (auto b = weak.lock()) b->abort(std::move(why));
      }});
  auto remaining = std::make_shared<std::atomic<size_t>>(packs.size());
  for (const auto& p : packs) {
    Work part = run(async, [&] { return backend->all_reduce(p->flat, op); });
    part.add_done_callback([whole, remaining, p](std::exception_ptr error) {
      if (error) {
        whole->fail(std::move(error));
        return;
      }
      if (!whole->done()) p->unpack();
      if (remaining->fetch_sub(1) == 1) whole->complete();
    });
  }
  return Work(std::move(whole));
}

}  // namespace baton
