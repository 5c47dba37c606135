// Collectives: check every argument, start the operation on the group's
// backend, and wait for it unless baton::async_op was given.
#include "api/checks.hpp"
#include "backends/blocking_call.hpp"
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

}  // namespace baton
