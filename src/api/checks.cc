// Argument checks: one function per public operation, messages that say
// what was expected and what was given.
#include "api/checks.hpp"

#include <string>

#include "api/group_state.hpp"
#include "baton/error.hpp"
#include "core/describe.hpp"

namespace baton::api {
namespace {

[[noreturn]] void fail(std::string_view op, const std::string& what) {
  throw InvalidArgument(std::string(op) + ": " + what);
}

// " (group 1)" for subgroups, "" for the world, so world messages stay short.
std::string group_suffix(const Group& group) {
  const auto* state = group.state();
  if (state == nullptr || state->name() == "world") return "";
  return " (" + state->name() + ")";
}

// A group rank argument: root, dst or src.
void check_rank(std::string_view op, std::string_view role, int rank, const Group& group) {
  if (rank < 0 || rank >= group.size()) {
    fail(op, std::string(role) + " " + std::to_string(rank) + " is not a rank of a group of " +
                 std::to_string(group.size()) + group_suffix(group));
  }
}

// A peer of a point-to-point operation: a rank of the group other than ours.
void check_peer(std::string_view op, std::string_view role, int rank, const Group& group) {
  check_rank(op, role, rank, group);
  if (rank == group.rank()) {
    fail(op, std::string(role) + " " + std::to_string(rank) +
                 " is this process's own rank; a rank cannot send to or receive from itself");
  }
}

void check_tensor(std::string_view op, std::string_view name, const Tensor& tensor,
                  const Group& group) {
  if (!tensor.defined())
    fail(op, std::string(name) + " is undefined (a default-constructed Tensor)");
  const std::string backend = group.backend();
  const bool wants_cuda = backend == "nccl";
  if (tensor.device().is_cuda() != wants_cuda) {
    fail(op, std::string(name) + " is on " + tensor.device().str() + "; the " + backend +
                 " backend works on " + (wants_cuda ? "cuda" : "cpu") + " tensors");
  }
}

void check_reduce_op(std::string_view op, ReduceOp reduce_op, const Tensor& tensor) {
  if (!supports(reduce_op, tensor.dtype())) {
    fail(op, std::string(reduce_op_name(reduce_op)) + " is not defined for " +
                 std::string(dtype_name(tensor.dtype())) + " tensors");
  }
}

std::string describe_elements(const Tensor& t) {
  return std::to_string(t.numel()) + " " + std::string(dtype_name(t.dtype())) +
         (t.numel() == 1 ? " element" : " elements");
}

// `list` holds one tensor per rank, each defined, on the right device and
// with the numel and dtype of `like` (called `like_name` in messages).
void check_list(std::string_view op, std::string_view list_name, const std::vector<Tensor>& list,
                const Tensor& like, std::string_view like_name, const Group& group) {
  const auto expected = static_cast<size_t>(group.size());
  if (list.size() != expected) {
    fail(op, std::string(list_name) + " has " + std::to_string(list.size()) +
                 (list.size() == 1 ? " tensor" : " tensors") + "; expected " +
                 std::to_string(expected) + ", one per rank of the group" + group_suffix(group));
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string name = std::string(list_name) + "[" + std::to_string(i) + "]";
    check_tensor(op, name, list[i], group);
    if (list[i].numel() != like.numel() || list[i].dtype() != like.dtype()) {
      fail(op, name + " holds " + describe_elements(list[i]) + "; expected " +
                   describe_elements(like) + ", like " + std::string(like_name));
    }
  }
}

}  // namespace

BackendPtr check_group(std::string_view op, const Group& group) {
  const auto* state = group.state();
  if (state == nullptr) {
    fail(op, "the group handle refers to no group; use baton::world() or a group from new_group()");
  }
  if (!state->is_member()) {
    fail(op, "this process is not a member of " + state->name() + " (world ranks " +
                 rank_list(state->world_ranks()) + ")");
  }
  auto backend = state->backend();
  if (!backend) {
    fail(op, state->name() + " was destroyed (destroy_process_group() or destroy_group())");
  }
  return backend;
}

BackendPtr check_send(std::string_view op, const Tensor& tensor, int dst, const Group& group) {
  auto backend = check_group(op, group);
  check_peer(op, "dst", dst, group);
  check_tensor(op, "tensor", tensor, group);
  return backend;
}

BackendPtr check_recv(std::string_view op, const Tensor& tensor, int src, const Group& group) {
  auto backend = check_group(op, group);
  if (src != -1) check_peer(op, "src", src, group);
  check_tensor(op, "tensor", tensor, group);
  return backend;
}

BackendPtr check_broadcast(const Tensor& tensor, int src, const Group& group) {
  constexpr std::string_view kOp = "broadcast";
  auto backend = check_group(kOp, group);
  check_rank(kOp, "src", src, group);
  check_tensor(kOp, "tensor", tensor, group);
  return backend;
}

BackendPtr check_all_reduce(const Tensor& tensor, ReduceOp op, const Group& group) {
  constexpr std::string_view kOp = "all_reduce";
  auto backend = check_group(kOp, group);
  check_tensor(kOp, "tensor", tensor, group);
  check_reduce_op(kOp, op, tensor);
  return backend;
}

BackendPtr check_reduce(const Tensor& tensor, int dst, ReduceOp op, const Group& group) {
  constexpr std::string_view kOp = "reduce";
  auto backend = check_group(kOp, group);
  check_rank(kOp, "dst", dst, group);
  check_tensor(kOp, "tensor", tensor, group);
  check_reduce_op(kOp, op, tensor);
  return backend;
}

BackendPtr check_all_gather(const std::vector<Tensor>& outputs, const Tensor& input,
                            const Group& group) {
  constexpr std::string_view kOp = "all_gather";
  auto backend = check_group(kOp, group);
  check_tensor(kOp, "input", input, group);
  check_list(kOp, "outputs", outputs, input, "input", group);
  return backend;
}

BackendPtr check_gather(const Tensor& input, const std::vector<Tensor>& gather_list, int dst,
                        const Group& group) {
  constexpr std::string_view kOp = "gather";
  auto backend = check_group(kOp, group);
  check_rank(kOp, "dst", dst, group);
  check_tensor(kOp, "input", input, group);
  if (group.rank() == dst) check_list(kOp, "gather_list", gather_list, input, "input", group);
  return backend;
}

BackendPtr check_scatter(const Tensor& output, const std::vector<Tensor>& scatter_list, int src,
                         const Group& group) {
  constexpr std::string_view kOp = "scatter";
  auto backend = check_group(kOp, group);
  check_rank(kOp, "src", src, group);
  check_tensor(kOp, "output", output, group);
  if (group.rank() == src) check_list(kOp, "scatter_list", scatter_list, output, "output", group);
  return backend;
}

BackendPtr check_reduce_scatter(const Tensor& output, const std::vector<Tensor>& inputs,
                                ReduceOp op, const Group& group) {
  constexpr std::string_view kOp = "reduce_scatter";
  auto backend = check_group(kOp, group);
  check_tensor(kOp, "output", output, group);
  check_reduce_op(kOp, op, output);
  check_list(kOp, "inputs", inputs, output, "output", group);
  return backend;
}

BackendPtr check_all_to_all(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                            const Group& group) {
  constexpr std::string_view kOp = "all_to_all";
  auto backend = check_group(kOp, group);
  const auto expected = static_cast<size_t>(group.size());
  for (const auto* list : {&inputs, &outputs}) {
    const char* name = list == &inputs ? "inputs" : "outputs";
    if (list->size() != expected) {
      fail(kOp, std::string(name) + " has " + std::to_string(list->size()) +
                    (list->size() == 1 ? " tensor" : " tensors") + "; expected " +
                    std::to_string(expected) + ", one per rank of the group" + group_suffix(group));
    }
    for (size_t i = 0; i < list->size(); ++i) {
      check_tensor(kOp, std::string(name) + "[" + std::to_string(i) + "]", (*list)[i], group);
    }
  }
  const DType dtype = inputs[0].dtype();
  for (const auto* list : {&inputs, &outputs}) {
    const char* name = list == &inputs ? "inputs" : "outputs";
    for (size_t i = 0; i < list->size(); ++i) {
      if ((*list)[i].dtype() != dtype) {
        fail(kOp, std::string(name) + "[" + std::to_string(i) + "] is " +
                      std::string(dtype_name((*list)[i].dtype())) + "; expected " +
                      std::string(dtype_name(dtype)) + ", like inputs[0]");
      }
    }
  }
  const auto self = static_cast<size_t>(group.rank());
  if (outputs[self].numel() != inputs[self].numel()) {
    fail(kOp, "outputs[" + std::to_string(self) + "] holds " + describe_elements(outputs[self]) +
                  "; expected " + describe_elements(inputs[self]) + ", like inputs[" +
                  std::to_string(self) + "] (this rank's message to itself)");
  }
  return backend;
}

BackendPtr check_all_gather_into_tensor(const Tensor& output, const Tensor& input,
                                        const Group& group) {
  constexpr std::string_view kOp = "all_gather_into_tensor";
  auto backend = check_group(kOp, group);
  check_tensor(kOp, "input", input, group);
  check_tensor(kOp, "output", output, group);
  if (output.dtype() != input.dtype() || output.numel() != input.numel() * group.size()) {
    fail(kOp, "output holds " + describe_elements(output) + "; expected " +
                  std::to_string(input.numel() * group.size()) + " " +
                  std::string(dtype_name(input.dtype())) + " elements, " +
                  std::to_string(group.size()) + " times input" + group_suffix(group));
  }
  return backend;
}

BackendPtr check_reduce_scatter_tensor(const Tensor& output, const Tensor& input, ReduceOp op,
                                       const Group& group) {
  constexpr std::string_view kOp = "reduce_scatter_tensor";
  auto backend = check_group(kOp, group);
  check_tensor(kOp, "output", output, group);
  check_tensor(kOp, "input", input, group);
  check_reduce_op(kOp, op, output);
  if (output.dtype() != input.dtype() || input.numel() != output.numel() * group.size()) {
    fail(kOp, "input holds " + describe_elements(input) + "; expected " +
                  std::to_string(output.numel() * group.size()) + " " +
                  std::string(dtype_name(output.dtype())) + " elements, " +
                  std::to_string(group.size()) + " times output" + group_suffix(group));
  }
  return backend;
}

std::vector<int64_t> split_elements(std::string_view op, std::string_view name,
                                    const Tensor& tensor, const std::vector<int64_t>& splits,
                                    const Group& group) {
  const int64_t rows = tensor.shape().empty() ? tensor.numel() : tensor.shape()[0];
  const int64_t row = rows > 0 ? tensor.numel() / rows : 1;
  const auto n = static_cast<size_t>(group.size());
  std::vector<int64_t> out(n);
  if (splits.empty()) {
    if (rows % group.size() != 0) {
      fail(op, std::string(name) + "'s first dimension (" + std::to_string(rows) +
                   ") does not divide into " + std::to_string(group.size()) +
                   " equal blocks; pass split sizes" + group_suffix(group));
    }
    for (auto& e : out) e = rows / group.size() * row;
    return out;
  }
  if (splits.size() != n) {
    fail(op, std::string(name) + "_split_sizes has " + std::to_string(splits.size()) +
                 " entries; expected " + std::to_string(n) + ", one per rank of the group" +
                 group_suffix(group));
  }
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (splits[i] < 0) {
      fail(op, std::string(name) + "_split_sizes[" + std::to_string(i) + "] is " +
                   std::to_string(splits[i]) + "; split sizes cannot be negative");
    }
    total += splits[i];
    out[i] = splits[i] * row;
  }
  if (total != rows) {
    fail(op, std::string(name) + "_split_sizes add up to " + std::to_string(total) + " rows but " +
                 std::string(name) + "'s first dimension is " + std::to_string(rows));
  }
  return out;
}

BackendPtr check_all_to_all_single(const Tensor& output, const Tensor& input, const Group& group) {
  constexpr std::string_view kOp = "all_to_all_single";
  auto backend = check_group(kOp, group);
  check_tensor(kOp, "input", input, group);
  check_tensor(kOp, "output", output, group);
  if (output.dtype() != input.dtype()) {
    fail(kOp, "output is " + std::string(dtype_name(output.dtype())) + " but input is " +
                  std::string(dtype_name(input.dtype())) + "; they must match");
  }
  return backend;
}

BackendPtr check_all_reduce_coalesced(const std::vector<Tensor>& tensors, ReduceOp op,
                                      const Group& group) {
  constexpr std::string_view kOp = "all_reduce_coalesced";
  auto backend = check_group(kOp, group);
  for (size_t i = 0; i < tensors.size(); ++i) {
    check_tensor(kOp, "tensors[" + std::to_string(i) + "]", tensors[i], group);
    check_reduce_op(kOp, op, tensors[i]);
  }
  return backend;
}

}  // namespace baton::api
