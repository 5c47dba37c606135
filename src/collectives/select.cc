// Algorithm selection by size and group shape, with per-collective overrides.
#include "collectives/select.hpp"

#include <algorithm>
#include <cctype>
#include <string>

#include "baton/error.hpp"
#include "collectives/settings.hpp"
#include "core/config.hpp"

namespace baton::collectives {
namespace {

constexpr Algorithm kAllReduce[] = {Algorithm::kRing, Algorithm::kRecursiveDoubling,
                                    Algorithm::kSharedMemory, Algorithm::kHierarchical};
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

Algorithm choose_all_reduce(const OpShape& shape, const Settings& settings) {
  if (shape.hierarchical) return Algorithm::kHierarchical;
  if (shape.bytes < settings.all_reduce_small_bytes ||
      shape.count < static_cast<size_t>(std::max(1, shape.world_size))) {
    return Algorithm::kRecursiveDoubling;
  }
  return Algorithm::kRing;
}

size_t positive(std::string_view variable) {
  const int64_t value = config::get_int(variable);
  if (value < 1) {
    throw InvalidArgument(std::string(variable) + "=" + std::to_string(value) +
                          " must be a positive integer");
  }
  return static_cast<size_t>(value);
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

std::optional<Algorithm> parse_algorithm(OpKind kind, std::string_view variable,
                                         std::string value) {
  value = normalized(std::move(value));
  if (value == "auto" || value.empty()) return std::nullopt;
  for (Algorithm a : algorithms_for(kind)) {
    if (value == algorithm_name(a)) return a;
  }
  std::string choices = "auto";
  for (Algorithm a : algorithms_for(kind)) choices += ", " + std::string(algorithm_name(a));
  throw InvalidArgument(std::string(variable) + "='" + value + "' is not a " +
                        std::string(op_kind_name(kind)) + " algorithm (expected one of " + choices +
                        ")");
}

Settings Settings::from_config() {
  Settings s;
  s.tuning = {.segment_bytes = positive("BATON_COLL_SEGMENT_BYTES"),
              .pipeline_depth = positive("BATON_COLL_PIPELINE_DEPTH")};
  s.all_reduce_small_bytes =
      static_cast<size_t>(std::max<int64_t>(0, config::get_int("BATON_ALL_REDUCE_SMALL_BYTES")));
  for (size_t k = 0; k < s.forced.size(); ++k) {
    const auto kind = static_cast<OpKind>(k);
    if (kind == OpKind::kPointToPoint) continue;
    const std::string_view variable = algorithm_variable(kind);
    s.forced[k] = parse_algorithm(kind, variable, config::get_string(variable));
  }
  return s;
}

Algorithm select_algorithm(OpKind kind, const OpShape& shape) {
  return select_algorithm(kind, shape, Settings::from_config());
}

Algorithm select_algorithm(OpKind kind, const OpShape& shape, const Settings& settings) {
  if (kind == OpKind::kPointToPoint) (void)algorithm_variable(kind);  // throws
  const auto index = static_cast<size_t>(kind);
  if (index < settings.forced.size() && settings.forced[index]) return *settings.forced[index];
  const auto choices = algorithms_for(kind);
  if (shape.shared_memory &&
      std::find(choices.begin(), choices.end(), Algorithm::kSharedMemory) != choices.end()) {
    return Algorithm::kSharedMemory;
  }
  if (kind == OpKind::kAllReduce) return choose_all_reduce(shape, settings);
  return choices.front();
}

}  // namespace baton::collectives
