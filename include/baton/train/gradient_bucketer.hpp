// GradientBucketer: the core of DistributedDataParallel's reducer, free of
// any autograd library.
//
// It is given views of the gradient memory of a model (for instance torch
// gradients wrapped zero-copy) in the order they are expected to become ready
// during the backward pass, which is reverse parameter order. At construction
// it assigns them to buckets in that order: a bucket holds tensors of one
// dtype and device and at most options.bucket_bytes bytes (a tensor larger
// than that gets a bucket of its own; options.first_bucket_bytes, when set,
// caps the first bucket instead). Each dtype/device pair fills its own
// open bucket, and buckets are numbered by their first tensor, so
// interleaved dtypes do not split buckets.
//
// One iteration:
//   mark_ready(i)  says grad i holds its final local value. Its elements are
//                  copied into the bucket's flat buffer at once (the grad may
//                  be overwritten afterwards). When every grad of a bucket is
//                  ready, that bucket's all_reduce(SUM) starts asynchronously
//                  and mark_ready returns; the caller goes on computing while
//                  it runs. Buckets start in bucket order on every rank, as
//                  collectives must: a bucket that is complete before an
//                  earlier one waits until the earlier one starts.
//   finish()       packs the grads never marked ready as they are (like DDP
//                  with find_unused_parameters: an unused parameter's zero
//                  grad still takes part, so every rank runs the same
//                  collectives), starts the remaining buckets, waits for all,
//                  divides by the group size when options.average, copies the
//                  results back into the grads, and resets for the next
//                  iteration.
// Every rank must construct its bucketer with the same tensors (count, sizes,
// dtypes, order) and the same bucket_bytes, or the collectives disagree
// (MismatchError).
//
// Thread safety: mark_ready() may be called from any thread, including
// several autograd threads at once (a mutex serialises the bookkeeping and
// the starts, which keeps the start order). finish(), rebind() and the
// destructor must not race with mark_ready() of the same iteration.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "baton/distributed.hpp"
#include "baton/group.hpp"
#include "baton/tensor.hpp"
#include "baton/train/average_gradients.hpp"
#include "baton/work.hpp"

namespace baton::train {

// 25 MiB, torch DDP's bucket_cap_mb, unless BATON_BUCKET_BYTES is set (read at
// each call; it must be the same on every rank). A malformed or zero value is
// an InvalidArgument naming the variable.
size_t default_bucket_bytes();

struct BucketerOptions {
  // Largest bucket, bytes; > 0. An explicit value here wins over BATON_BUCKET_BYTES.
  size_t bucket_bytes = default_bucket_bytes();
  // The group that reduces the gradients (evaluated at construction: world()
  // needs init_process_group first).
  Group group = world();
  // Divide the sums by the group size (torch DDP's averaging); false keeps sums.
  bool average = true;
  // Cap of the first bucket of each dtype/device, so that communication
  // starts early in the backward pass (torch DDP uses 1 MiB); 0: bucket_bytes.
  size_t first_bucket_bytes = 0;
};

class GradientBucketer {
 public:
  // Assigns buckets and allocates one flat buffer per bucket. Non-blocking.
  // Errors: InvalidArgument for an undefined or Bool tensor (naming its
  // index), bucket_bytes == 0, or a group this process is not a member of;
  // UnsupportedError for a CUDA tensor in a build without CUDA.
  GradientBucketer(std::vector<Tensor> grads, BucketerOptions options = {});
  // Waits for buckets still in flight (errors are logged, not thrown).
  ~GradientBucketer();
  GradientBucketer(const GradientBucketer&) = delete;
  GradientBucketer& operator=(const GradientBucketer&) = delete;

  // Grad `index` is final for this iteration; may start its bucket's
  // all_reduce and those of complete buckets queued behind it. Does not wait
  // for communication. Errors: InvalidArgument when index is out of range or
  // already marked in this iteration.
  void mark_ready(size_t index);

  // Completes the iteration (see above). Blocks until every bucket's
  // all_reduce completes, each bounded by the group's timeout. Errors: the
  // collectives' errors (MismatchError, ConnectionError, TimeoutError), the
  // first one rethrown after every bucket has been waited for; the bucketer
  // is reset for a new iteration either way, and the grads are left as they
  // were when an error is thrown.
  void finish();

  // Replaces grad `index` with another view of the same dtype, device and
  // element count (for when the autograd library reallocated it). Errors:
  // InvalidArgument when out of range, mismatched, or already marked ready in
  // this iteration.
  void rebind(size_t index, Tensor grad);

  size_t num_grads() const { return grads_.size(); }
  size_t num_buckets() const { return buckets_.size(); }
  // The bucket grad `index` belongs to. Errors: InvalidArgument when out of range.
  size_t bucket_of(size_t index) const;
  // The grads of a bucket, in packing order, and its size in bytes. Errors:
  // InvalidArgument when out of range.
  std::vector<size_t> bucket_members(size_t bucket) const;
  size_t bucket_nbytes(size_t bucket) const;
  // Buckets whose all_reduce has started in the current iteration (0 after
  // finish()); for tests and diagnostics. Non-blocking.
  size_t num_started() const;

 private:
  struct Slot {
    size_t bucket = 0;
    int64_t offset = 0;  // elements into the bucket's flat buffer
    bool ready = false;  // GUARDED_BY(mu_)
  };
  struct Bucket {
    std::vector<size_t> members;
    Tensor flat;
    size_t pending = 0;    // GUARDED_BY(mu_): members not yet ready this iteration
    bool started = false;  // GUARDED_BY(mu_)
    Work work;             // GUARDED_BY(mu_)
  };

  void pack_locked(size_t index);
  void start_ready_buckets_locked();
  void wait_all_noexcept();
  void reset_locked();

  std::vector<Tensor> grads_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  BucketerOptions options_;
  mutable std::mutex mu_;
  size_t next_to_start_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace baton::train
