// Backend: what runs a group's operations (native, mpi, nccl).
//
// The api layer checks every argument once (ranks in range, tensors defined,
// on the right device, list lengths, sizes and dtypes that must match
// locally) before calling a backend, so backends only move and reduce data.
// Every method returns at once with a Work that completes when the
// operation does; ranks are group ranks; lists hold exactly size() tensors
// where a list is required (on roots only for gather/scatter).
//
// A backend documents which thread runs its operations and in what order
// (docs/thread_model.md for the native backend).
//
// Thread safety: methods may be called from several threads; operations are
// started in the order the calls are made.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "baton/reduce_op.hpp"
#include "baton/tensor.hpp"
#include "baton/work.hpp"

namespace baton::backends {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  virtual Work send(const Tensor& tensor, int dst, int tag) = 0;
  virtual Work recv(Tensor& tensor, int src, int tag) = 0;  // src may be ANY_SOURCE (-1)

  virtual Work broadcast(Tensor& tensor, int root) = 0;
  virtual Work all_reduce(Tensor& tensor, ReduceOp op) = 0;
  virtual Work reduce(Tensor& tensor, int root, ReduceOp op) = 0;
  virtual Work all_gather(std::vector<Tensor>& outputs, const Tensor& input) = 0;
  virtual Work gather(const Tensor& input, std::vector<Tensor>& outputs, int root) = 0;
  virtual Work scatter(Tensor& output, const std::vector<Tensor>& inputs, int root) = 0;
  virtual Work reduce_scatter(Tensor& output, const std::vector<Tensor>& inputs, ReduceOp op) = 0;
  virtual Work all_to_all(std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs) = 0;
  virtual Work barrier() = 0;

  // What reaches each group rank: "self" for this rank, else the transport's
  // name ("shm", "tcp"), or the backend's own name where it has no such
  // notion. Never blocks.
  virtual std::vector<std::string> peer_transports() const {
    std::vector<std::string> out(static_cast<size_t>(size()), name());
    if (rank() >= 0 && rank() < size()) out[static_cast<size_t>(rank())] = "self";
    return out;
  }

  // Fails every pending and later operation with `why` now, and tells the
  // peers where the backend can. Never blocks; callable from any thread.
  virtual void abort(std::exception_ptr why) = 0;

  // Waits for every operation started so far, then releases connections.
  virtual void shutdown() = 0;
};

}  // namespace baton::backends
