// DistributedDataParallel: hooks on the gradient accumulators feed a
// GradientBucketer; an autograd final callback finishes each iteration.
#include "baton/train/torch/distributed_data_parallel.hpp"

#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/autograd/function_hook.h>

#include <algorithm>
#include <sstream>
#include <utility>

#include "baton/distributed.hpp"
#include "baton/train/torch/tensor_view.hpp"

namespace baton::train {
namespace {

// Per parameter: name hash, dtype, rank of the shape, then up to kMaxDims sizes.
constexpr int64_t kMaxDims = 8;
constexpr int64_t kFields = 3 + kMaxDims;

int64_t name_hash(const std::string& name) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return static_cast<int64_t>(h >> 1);
}

std::string describe(const int64_t* fields) {
  std::ostringstream out;
  out << dtype_name(static_cast<DType>(fields[1])) << " [";
  const int64_t dims = std::min(fields[2], kMaxDims);
  for (int64_t d = 0; d < dims; ++d) out << (d ? ", " : "") << fields[3 + d];
  if (fields[2] > kMaxDims) out << ", ...";
  out << "]";
  return out.str();
}

}  // namespace

// Runs after autograd has accumulated one parameter's gradient.
class DistributedDataParallel::Hook : public torch::autograd::FunctionPostHook {
 public:
  Hook(DistributedDataParallel* ddp, size_t slot) : ddp_(ddp), slot_(slot) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    ddp_->on_gradient_ready(slot_);
    return outputs;
  }

 private:
  DistributedDataParallel* ddp_;
  size_t slot_;
};

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<torch::nn::Module> module,
                                                 DdpOptions options)
    : module_(std::move(module)), options_(std::move(options)) {
  if (!module_) throw InvalidArgument("DistributedDataParallel: the module is null");
  if (!options_.group.is_member()) {
    throw InvalidArgument("DistributedDataParallel: this process is not a member of the group");
  }
  // Slots run in reverse parameter order: the order backward produces gradients.
  auto named = module_->named_parameters();
  for (auto it = named.end(); it != named.begin();) {
    --it;
    if (!it->value().requires_grad()) continue;
    names_.push_back(it->key());
    parameters_.push_back(it->value());
  }
  if (parameters_.empty()) {
    throw InvalidArgument("DistributedDataParallel: the module has no trainable parameters");
  }
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (!parameters_[i].is_contiguous()) {
      throw InvalidArgument("DistributedDataParallel: parameter '" + names_[i] +
                            "' is not contiguous");
    }
  }
  check_same_parameters();
  broadcast_state();

  std::vector<Tensor> grads;
  for (auto& parameter : parameters_) {
    if (!parameter.grad().defined()) {
      parameter.mutable_grad() = torch::zeros_like(parameter);
    }
    grads.push_back(to_baton(parameter.grad()));
    bound_.push_back(parameter.grad().data_ptr());
  }
  bucketer_ = std::make_unique<GradientBucketer>(
      std::move(grads), BucketerOptions{.bucket_bytes = options_.bucket_bytes,
                                        .group = options_.group,
                                        .average = true,
                                        .first_bucket_bytes = options_.first_bucket_bytes});
  for (size_t slot = 0; slot < parameters_.size(); ++slot) {
    auto accumulator = torch::autograd::impl::grad_accumulator(parameters_[slot]);
    hook_keys_.push_back(accumulator->add_post_hook(std::make_unique<Hook>(this, slot)));
    accumulators_.push_back(std::move(accumulator));
  }
}

DistributedDataParallel::~DistributedDataParallel() {
  for (size_t i = 0; i < accumulators_.size(); ++i) {
    accumulators_[i]->del_post_hook(hook_keys_[i]);
  }
}

void DistributedDataParallel::check_same_parameters() const {
  const Group& group = options_.group;
  const int size = group.size();
  if (size == 1) return;
  const int64_t count = static_cast<int64_t>(parameters_.size());
  Tensor mine_count = Tensor::full({1}, static_cast<double>(count), DType::Int64);
  std::vector<Tensor> counts;
  for (int r = 0; r < size; ++r) counts.push_back(Tensor::empty({1}, DType::Int64));
  all_gather(counts, mine_count, group);
  for (int r = 0; r < size; ++r) {
    const int64_t theirs = counts[static_cast<size_t>(r)].data<int64_t>()[0];
    if (theirs != count) {
      throw MismatchError("DistributedDataParallel: rank " + std::to_string(group.rank()) +
                          " has " + std::to_string(count) + " trainable parameters but rank " +
                          std::to_string(r) + " has " + std::to_string(theirs));
    }
  }
  Tensor mine = Tensor::zeros({count * kFields}, DType::Int64);
  auto fields = mine.data<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    const torch::Tensor& p = parameters_[static_cast<size_t>(i)];
    int64_t* f = fields.data() + i * kFields;
    f[0] = name_hash(names_[static_cast<size_t>(i)]);
    f[1] = static_cast<int64_t>(dtype_from_torch(p.scalar_type()));
    f[2] = p.dim();
    for (int64_t d = 0; d < std::min<int64_t>(p.dim(), kMaxDims); ++d) f[3 + d] = p.size(d);
  }
  std::vector<Tensor> all;
  for (int r = 0; r < size; ++r) all.push_back(Tensor::empty({count * kFields}, DType::Int64));
  all_gather(all, mine, group);
  // Every rank scans the same table, so every rank reports the same culprit.
  for (int64_t i = 0; i < count; ++i) {
    const int64_t* first = all[0].data<int64_t>().data() + i * kFields;
    for (int r = 1; r < size; ++r) {
      const int64_t* other = all[static_cast<size_t>(r)].data<int64_t>().data() + i * kFields;
      if (std::equal(first, first + kFields, other)) continue;
      const std::string name = names_[static_cast<size_t>(i)];
      if (first[0] != other[0]) {
        throw MismatchError("DistributedDataParallel: parameters differ between rank 0 and rank " +
                            std::to_string(r) + ": trainable parameter #" + std::to_string(i) +
                            " (reverse order) has different names; this rank calls it '" +
                            name + "'");
      }
      throw MismatchError("DistributedDataParallel: parameter '" + name + "' is " +
                          describe(first) + " on rank 0 but " + describe(other) + " on rank " +
                          std::to_string(r));
    }
  }
}

void DistributedDataParallel::broadcast_state() const {
  torch::NoGradGuard no_grad;
  for (const auto& parameter : parameters_) {
    Tensor view = to_baton(parameter);
    broadcast(view, 0, options_.group);
  }
  if (!options_.broadcast_buffers) return;
  for (auto& buffer : module_->buffers()) {
    if (!buffer.defined() || !buffer.is_contiguous()) continue;
    Tensor view = to_baton(buffer);
    broadcast(view, 0, options_.group);
  }
}

void DistributedDataParallel::on_gradient_ready(size_t slot) {
  if (!syncing_) return;
  const torch::Tensor& grad = parameters_[slot].grad();
  if (!grad.defined()) return;  // finish() reduces the bound memory as it is
  if (!finish_queued_) {
    finish_queued_ = true;
    torch::autograd::Engine::get_default_engine().queue_callback([this] { finish_iteration(); });
  }
  if (grad.data_ptr() != bound_[slot]) {
    bucketer_->rebind(slot, to_baton(grad));
    bound_[slot] = grad.data_ptr();
  }
  bucketer_->mark_ready(slot);
}

void DistributedDataParallel::finish_iteration() {
  finish_queued_ = false;
  const auto start = std::chrono::steady_clock::now();
  bucketer_->finish();
  stats_.exposed_wait += std::chrono::steady_clock::now() - start;
  ++stats_.iterations;
}

DistributedDataParallel::NoSyncGuard::NoSyncGuard(DistributedDataParallel& ddp)
    : ddp_(ddp), previous_(ddp.syncing_) {
  ddp_.syncing_ = false;
}

DistributedDataParallel::NoSyncGuard::~NoSyncGuard() {
  ddp_.syncing_ = previous_;
}

}  // namespace baton::train
