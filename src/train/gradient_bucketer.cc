// GradientBucketer: bucket assignment at construction; per iteration, packing
// at mark_ready, in-order asynchronous all_reduce starts, and unpacking with
// the average at finish.
#include "baton/train/gradient_bucketer.hpp"

#include <cstring>
#include <exception>
#include <string>
#include <utility>

#include "baton/error.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "train/divide.hpp"

namespace baton::train {
namespace {

constexpr auto kSubsys = log::Subsys::kTrain;

std::byte* bytes_of(const Tensor& t) {
  return static_cast<std::byte*>(t.data_ptr());
}

}  // namespace

size_t default_bucket_bytes() {
  const int64_t bytes = config::get_int("BATON_BUCKET_BYTES");
  if (bytes <= 0) {
    throw InvalidArgument("BATON_BUCKET_BYTES must be a positive number of bytes, got " +
                          std::to_string(bytes));
  }
  return static_cast<size_t>(bytes);
}

GradientBucketer::GradientBucketer(std::vector<Tensor> grads, BucketerOptions options)
    : grads_(std::move(grads)), options_(std::move(options)) {
  if (options_.bucket_bytes == 0) {
    throw InvalidArgument("GradientBucketer: bucket_bytes must be > 0, got 0");
  }
  if (!options_.group.is_member()) {
    throw InvalidArgument("GradientBucketer: this process is not a member of the given group");
  }
  for (size_t i = 0; i < grads_.size(); ++i) {
    const Tensor& g = grads_[i];
    if (!g.defined() || g.dtype() == DType::Bool) {
      throw InvalidArgument("GradientBucketer: grad " + std::to_string(i) +
                            (g.defined() ? " is bool; expected a numeric gradient"
                                         : " is undefined; expected a gradient"));
    }
    if (g.device().is_cuda()) {
      throw UnsupportedError("GradientBucketer: grad " + std::to_string(i) + " is on " +
                             g.device().str() + "; this build of Baton has CPU only");
    }
  }

  // Each (dtype, device) pair fills its own open bucket; a bucket closes when
  // the next tensor would take it past its cap (first_bucket_bytes for the
  // pair's first bucket, when set; bucket_bytes after). Buckets are numbered
  // by their first tensor, which is the order they are assigned in below.
  struct Open {
    DType dtype;
    Device device;
    size_t bucket;
    size_t bytes;
    size_t cap;
  };
  auto same_key = [](const Open& o, const Tensor& g) {
    return o.dtype == g.dtype() && o.device == g.device();
  };
  std::vector<Open> open;  // at most one per (dtype, device)
  std::vector<Open> seen;  // every (dtype, device) that has had a bucket
  std::vector<size_t> bytes_of_bucket;
  slots_.resize(grads_.size());
  for (size_t i = 0; i < grads_.size(); ++i) {
    const Tensor& g = grads_[i];
    Open* current = nullptr;
    for (Open& o : open) {
      if (same_key(o, g)) current = &o;
    }
    if (current != nullptr && current->bytes > 0 && current->bytes + g.nbytes() > current->cap) {
      current = nullptr;
      std::erase_if(open, [&](const Open& o) { return same_key(o, g); });
    }
    if (current == nullptr) {
      bool first = true;
      for (const Open& o : seen) first = first && !same_key(o, g);
      const size_t cap = first && options_.first_bucket_bytes > 0 ? options_.first_bucket_bytes
                                                                  : options_.bucket_bytes;
      buckets_.emplace_back();
      bytes_of_bucket.push_back(0);
      open.push_back(Open{g.dtype(), g.device(), buckets_.size() - 1, 0, cap});
      if (first) seen.push_back(open.back());
      current = &open.back();
    }
    slots_[i].bucket = current->bucket;
    slots_[i].offset = static_cast<int64_t>(current->bytes / g.element_size());
    buckets_[current->bucket].members.push_back(i);
    current->bytes += g.nbytes();
    bytes_of_bucket[current->bucket] = current->bytes;
  }
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const Tensor& first = grads_[buckets_[b].members.front()];
    const int64_t numel = static_cast<int64_t>(bytes_of_bucket[b] / first.element_size());
    buckets_[b].flat = Tensor::empty({numel}, first.dtype(), first.device());
  }
  std::lock_guard lock(mu_);
  reset_locked();
  BATON_LOG_INFO(kSubsys) << "GradientBucketer: " << grads_.size() << " grads in "
                          << buckets_.size() << " buckets of at most " << options_.bucket_bytes
                          << " bytes, group of " << options_.group.size();
}

GradientBucketer::~GradientBucketer() {
  wait_all_noexcept();
}

void GradientBucketer::reset_locked() {
  for (Slot& s : slots_) s.ready = false;
  for (Bucket& b : buckets_) {
    b.pending = b.members.size();
    b.started = false;
    b.work = Work();
  }
  next_to_start_ = 0;
}

void GradientBucketer::pack_locked(size_t index) {
  Slot& slot = slots_[index];
  const Tensor& grad = grads_[index];
  Bucket& bucket = buckets_[slot.bucket];
  if (grad.nbytes() > 0) {
    std::memcpy(bytes_of(bucket.flat) + static_cast<size_t>(slot.offset) * grad.element_size(),
                grad.data_ptr(), grad.nbytes());
  }
  slot.ready = true;
  --bucket.pending;
}

void GradientBucketer::start_ready_buckets_locked() {
  while (next_to_start_ < buckets_.size() && buckets_[next_to_start_].pending == 0) {
    Bucket& bucket = buckets_[next_to_start_];
    bucket.work = all_reduce(bucket.flat, ReduceOp::SUM, options_.group, async_op);
    bucket.started = true;
    BATON_LOG_TRACE(kSubsys) << "GradientBucketer: bucket " << next_to_start_ << " started ("
                             << bucket.flat.nbytes() << " bytes)";
    ++next_to_start_;
  }
}

void GradientBucketer::mark_ready(size_t index) {
  std::lock_guard lock(mu_);
  if (index >= grads_.size()) {
    throw InvalidArgument("GradientBucketer::mark_ready: index must be < " +
                          std::to_string(grads_.size()) + ", got " + std::to_string(index));
  }
  if (slots_[index].ready) {
    throw InvalidArgument("GradientBucketer::mark_ready: grad " + std::to_string(index) +
                          " was already marked ready in this iteration; expected each grad "
                          "once between finish() calls");
  }
  pack_locked(index);
  start_ready_buckets_locked();
}

void GradientBucketer::finish() {
  std::unique_lock lock(mu_);
  std::exception_ptr error;
  try {
    size_t unused = 0;
    for (size_t i = 0; i < grads_.size(); ++i) {
      if (!slots_[i].ready) {
        pack_locked(i);
        ++unused;
      }
    }
    if (unused > 0) {
      BATON_LOG_DEBUG(kSubsys) << "GradientBucketer::finish: " << unused
                               << " grads never marked ready are reduced as they are";
    }
    start_ready_buckets_locked();
  } catch (...) {
    error = std::current_exception();
  }
  for (Bucket& bucket : buckets_) {
    if (!bucket.started) continue;
    try {
      bucket.work.wait();
    } catch (...) {
      if (!error) error = std::current_exception();
    }
  }
  if (error) {
    reset_locked();
    std::rethrow_exception(error);
  }
  const int size = options_.group.size();
  for (Bucket& bucket : buckets_) {
    if (options_.average) divide_by_group_size(bucket.flat, size);
    for (size_t index : bucket.members) {
      const Tensor& grad = grads_[index];
      if (grad.nbytes() == 0) continue;
      std::memcpy(
          grad.data_ptr(),
          bytes_of(bucket.flat) + static_cast<size_t>(slots_[index].offset) * grad.element_size(),
          grad.nbytes());
    }
  }
  reset_locked();
}

void GradientBucketer::wait_all_noexcept() {
  std::lock_guard lock(mu_);
  for (Bucket& bucket : buckets_) {
    if (!bucket.started) continue;
    try {
      bucket.work.wait();
    } catch (const std::exception& e) {
      BATON_LOG_WARN(kSubsys) << "GradientBucketer: a bucket's all_reduce failed while the "
                                 "bucketer was destroyed: "
                              << e.what();
    }
  }
}

void GradientBucketer::rebind(size_t index, Tensor grad) {
  std::lock_guard lock(mu_);
  if (index >= grads_.size()) {
    throw InvalidArgument("GradientBucketer::rebind: index must be < " +
                          std::to_string(grads_.size()) + ", got " + std::to_string(index));
  }
  const Tensor& old = grads_[index];
  if (!grad.defined() || grad.dtype() != old.dtype() || grad.device() != old.device() ||
      grad.numel() != old.numel()) {
    throw InvalidArgument("GradientBucketer::rebind: grad " + std::to_string(index) +
                          " must stay " + std::to_string(old.numel()) + " " +
                          std::string(dtype_name(old.dtype())) + " elements on " +
                          old.device().str() + ", got " +
                          (grad.defined() ? std::to_string(grad.numel()) + " " +
                                                std::string(dtype_name(grad.dtype())) +
                                                " elements on " + grad.device().str()
                                          : std::string("an undefined tensor")));
  }
  if (slots_[index].ready) {
    throw InvalidArgument("GradientBucketer::rebind: grad " + std::to_string(index) +
                          " was already marked ready in this iteration; rebind it before");
  }
  grads_[index] = std::move(grad);
}

size_t GradientBucketer::bucket_of(size_t index) const {
  if (index >= slots_.size()) {
    throw InvalidArgument("GradientBucketer::bucket_of: index must be < " +
                          std::to_string(slots_.size()) + ", got " + std::to_string(index));
  }
  return slots_[index].bucket;
}

std::vector<size_t> GradientBucketer::bucket_members(size_t bucket) const {
  if (bucket >= buckets_.size()) {
    throw InvalidArgument("GradientBucketer::bucket_members: bucket must be < " +
                          std::to_string(buckets_.size()) + ", got " + std::to_string(bucket));
  }
  return buckets_[bucket].members;
}

size_t GradientBucketer::bucket_nbytes(size_t bucket) const {
  if (bucket >= buckets_.size()) {
    throw InvalidArgument("GradientBucketer::bucket_nbytes: bucket must be < " +
                          std::to_string(buckets_.size()) + ", got " + std::to_string(bucket));
  }
  return buckets_[bucket].flat.nbytes();
}

size_t GradientBucketer::num_started() const {
  std::lock_guard lock(mu_);
  return next_to_start_;
}

}  // namespace baton::train
