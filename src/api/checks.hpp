// Argument checks of the public API, done once, before anything is sent.
//
// Each check_<operation> validates every argument of one call of the public
// API and returns the group's backend; backends may then trust their
// arguments (see backends/backend.hpp). A failed check throws
// InvalidArgument whose message starts with the operation and says what was
// expected and what was given:
//   "reduce: dst 5 is not a rank of a group of 4"
//   "all_gather: outputs has 3 tensors; expected 4, one per rank of the group"
//   "all_gather: outputs[2] holds 5 float32 elements; expected 4 float32 elements, like input"
//   "broadcast: tensor is undefined (a default-constructed Tensor)"
//   "all_reduce: tensor is on cuda:0; the native backend works on cpu tensors"
//   "all_reduce: BAND is not defined for float32 tensors"
//   "send: group 1 was destroyed by destroy_process_group()"
//
// Thread safety: pure functions of their arguments (and of the group's state).
#pragma once

#include <memory>
#include <vector>

#include "backends/backend.hpp"
#include "baton/group.hpp"
#include "baton/reduce_op.hpp"
#include "baton/tensor.hpp"

namespace baton::api {

using BackendPtr = std::shared_ptr<backends::Backend>;

// The backend of a live group this process is a member of.
BackendPtr check_group(std::string_view op, const Group& group);

BackendPtr check_send(std::string_view op, const Tensor& tensor, int dst, const Group& group);
// src may be ANY_SOURCE.
BackendPtr check_recv(std::string_view op, const Tensor& tensor, int src, const Group& group);

BackendPtr check_broadcast(const Tensor& tensor, int src, const Group& group);
BackendPtr check_all_reduce(const Tensor& tensor, ReduceOp op, const Group& group);
BackendPtr check_reduce(const Tensor& tensor, int dst, ReduceOp op, const Group& group);
BackendPtr check_all_gather(const std::vector<Tensor>& outputs, const Tensor& input,
                            const Group& group);
BackendPtr check_gather(const Tensor& input, const std::vector<Tensor>& gather_list, int dst,
                        const Group& group);
BackendPtr check_scatter(const Tensor& output, const std::vector<Tensor>& scatter_list, int src,
                         const Group& group);
BackendPtr check_reduce_scatter(const Tensor& output, const std::vector<Tensor>& inputs,
                                ReduceOp op, const Group& group);
BackendPtr check_all_to_all(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                            const Group& group);

BackendPtr check_all_gather_into_tensor(const Tensor& output, const Tensor& input,
                                        const Group& group);
BackendPtr check_reduce_scatter_tensor(const Tensor& output, const Tensor& input, ReduceOp op,
                                       const Group& group);
// The element count of each of size() blocks of `tensor` (called `name`)
// cut by `splits` (rows of the first dimension; empty: equal blocks), for
// all_to_all_single. Throws InvalidArgument for splits that do not fit.
std::vector<int64_t> split_elements(std::string_view op, std::string_view name,
                                    const Tensor& tensor, const std::vector<int64_t>& splits,
                                    const Group& group);
BackendPtr check_all_to_all_single(const Tensor& output, const Tensor& input, const Group& group);
BackendPtr check_all_reduce_coalesced(const std::vector<Tensor>& tensors, ReduceOp op,
                                      const Group& group);

}  // namespace baton::api
