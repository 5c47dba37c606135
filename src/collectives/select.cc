// Algorithm selection by size and group shape, with per-collective overrides.
#include "collectives/select.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string>

#include "baton/error.hpp"
#include "core/config.hpp"

namespace baton::collectives {
namespace {

constexpr Algorithm kAllReduce[] = {Algorithm::kRing, Algorithm::kRecursiveDoubling,
                                    Algorithm::kSharedMemory,
                                    Algorithm::kHierarchical};
constexpr Algorithm kTree[] = {Algorithm::kBinomialTree, Algorithm::kSharedMemory};
constexpr Algorithm kRingOrShared[] = {Algorithm::kRing, Algorithm::kSharedMemory};
constexpr Algorithm kDirectOnly[] = {Algorithm::kDirect};
constexpr Algorithm kPairwiseOnly[] = {Algorithm::kPairwise};
constexpr Algorithm kDissemination[] = {Algorithm::kDissemination, Algorithm::kSharedMemory};

std::string normalized(std::string text) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  text.erase(text.begin(), std::find_if(text.begin(), text.end(), not_space));
  text.erase(std::find_if(text.rbegin(), text.rend(), not_space).base(), text.end());
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// The forced algorithm, or nothing for "auto".
bool forced(OpKind kind, Algorithm* out) {
  const std::string_view variable = algorithm_variable(kind);
  // Fast path, once per collective: unset or "auto" (variable is a literal,
  // so NUL-terminated).
  const char* raw = std::getenv(variable.data());
  if (raw == nullptr || *raw == '\0' || std::strcmp(raw, "auto") == 0) return false;
  const std::string value = normalized(config::get_string(variable));
  if (value == "auto" || value.empty()) return false;
  for (Algorithm a : algorithms_for(kind)) {
    if (value == algorithm_name(a)) {
      *out = a;
      return true;
    }
  }
  std::string choices = "auto";
  for (Algorithm a : algorithms_for(kind)) choices += ", " + std::string(algorithm_name(a));
  throw InvalidArgument(std::string(variable) + "='" + value + "' is not a " +
                        std::string(op_kind_name(kind)) + " algorithm (expected one of " + choices +
                        ")");
}

Algorithm choose_all_reduce(const OpShape& shape) {
  if (shape.hierarchical) return Algorithm::kHierarchical;
  const auto small =
      static_cast<size_t>(std::max<int64_t>(0, config::get_int("BATON_ALL_REDUCE_SMALL_BYTES")));
  if (shape.bytes < small || shape.count < static_cast<size_t>(std::max(1, shape.world_size))) {
    return Algorithm::kRecursiveDoubling;
  }
  return Algorithm::kRing;
}

}  // namespace

std::string_view algorithm_name(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kRing: return "ring";
    case Algorithm::kRecursiveDoubling: return "recursive_doubling";
    case Algorithm::kBinomialTree: return "binomial_tree";
    case Algorithm::kPairwise: return "pairwise";
    case Algorithm::kDissemination: return "dissemination";
    case Algorithm::kDirect: return "direct";
    case Algorithm::kSharedMemory: return "shared_memory";
    case Algorithm::kHierarchical: return "hierarchical";
  }
  return "unknown algorithm";
}

std::span<const Algorithm> algorithms_for(OpKind kind) {
  switch (kind) {
    case OpKind::kPointToPoint: return {};
    case OpKind::kAllReduce: return kAllReduce;
    case OpKind::kBroadcast:
    case OpKind::kReduce: return kTree;
    case OpKind::kAllGather:
    case OpKind::kReduceScatter: return kRingOrShared;
    case OpKind::kGather:
    case OpKind::kScatter: return kDirectOnly;
    case OpKind::kAllToAll: return kPairwiseOnly;
    case OpKind::kBarrier: return kDissemination;
  }
  return {};
}

std::string_view algorithm_variable(OpKind kind) {
  switch (kind) {
    case OpKind::kBroadcast: return "BATON_ALGO_BROADCAST";
    case OpKind::kAllReduce: return "BATON_ALGO_ALL_REDUCE";
    case OpKind::kReduce: return "BATON_ALGO_REDUCE";
    case OpKind::kAllGather: return "BATON_ALGO_ALL_GATHER";
    case OpKind::kGather: return "BATON_ALGO_GATHER";
    case OpKind::kScatter: return "BATON_ALGO_SCATTER";
    case OpKind::kReduceScatter: return "BATON_ALGO_REDUCE_SCATTER";
    case OpKind::kAllToAll: return "BATON_ALGO_ALL_TO_ALL";
    case OpKind::kBarrier: return "BATON_ALGO_BARRIER";
    case OpKind::kPointToPoint: break;
  }
  throw InvalidArgument("collectives: " + std::string(op_kind_name(kind)) +
                        " is not a collective and has no algorithm");
}

Algorithm select_algorithm(OpKind kind, const OpShape& shape) {
  Algorithm chosen{};
  if (forced(kind, &chosen)) return chosen;
  const auto choices = algorithms_for(kind);
  if (shape.shared_memory &&
      std::find(choices.begin(), choices.end(), Algorithm::kSharedMemory) != choices.end()) {
    return Algorithm::kSharedMemory;
  }
  if (kind == OpKind::kAllReduce) return choose_all_reduce(shape);
  return choices.front();
}

}  // namespace baton::collectives
