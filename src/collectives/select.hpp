// Algorithm selection: which algorithm runs a collective, by message size and
// group shape, overridable per collective from the environment.
//
// Under "auto" (the default), a group whose ranks share a memory area
// (transport::SharedArea: one host, shm) runs all_reduce, broadcast, reduce,
// all_gather, reduce_scatter and barrier with shared_memory; a group that
// spans hosts, some with several ranks, runs all_reduce hierarchical. Otherwise
// all_reduce takes recursive doubling for messages below
// BATON_ALL_REDUCE_SMALL_BYTES or with fewer elements than ranks
// (latency-bound), and the pipelined ring otherwise
// (bandwidth-bound); every other collective has one algorithm. BATON_ALGO_<COLLECTIVE>
// (BATON_ALGO_ALL_REDUCE=ring|recursive_doubling, BATON_ALGO_BROADCAST=
// binomial_tree, ...) forces a choice for benchmarking; every rank of a
// group must be given the same value. docs/algorithms.md has the table.
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "collectives/op_kind.hpp"

namespace baton::collectives {

enum class Algorithm : uint8_t {
  kRing,
  kRecursiveDoubling,
  kBinomialTree,
  kPairwise,
  kDissemination,
  kDirect,
  kSharedMemory,
  kHierarchical,
};

// "ring", "recursive_doubling", "binomial_tree", "pairwise", "dissemination",
// "direct", "shared_memory", "hierarchical".
std::string_view algorithm_name(Algorithm algorithm);

// The algorithms that can run `kind` (empty for kPointToPoint).
std::span<const Algorithm> algorithms_for(OpKind kind);

// The variable that overrides the choice for `kind`: "BATON_ALGO_ALL_REDUCE".
// InvalidArgument for kPointToPoint.
std::string_view algorithm_variable(OpKind kind);

// What the choice depends on; every rank of the group sees the same values.
struct OpShape {
  size_t bytes = 0;    // bytes of one rank's buffer (all_reduce: the tensor)
  size_t count = 0;    // elements in it
  int world_size = 1;  // ranks in the group
  // The group has a shared area (transport::Context::shared_area).
  bool shared_memory = false;
  // The group spans hosts and some host has several ranks (hierarchical_helps).
  bool hierarchical = false;
};

struct Settings;

// The algorithm to run `kind` with, under `settings` (settings.hpp; the
// overload without reads them from the environment now). Does not block.
// Throws InvalidArgument when kind is kPointToPoint, and (the overload
// without settings) for a malformed BATON_ALGO_* variable.
Algorithm select_algorithm(OpKind kind, const OpShape& shape, const Settings& settings);
Algorithm select_algorithm(OpKind kind, const OpShape& shape);

// The algorithm `value` names for `kind`, nullopt for "auto" or empty
// (case and surrounding spaces ignored). InvalidArgument naming `variable`
// and the choices otherwise.
std::optional<Algorithm> parse_algorithm(OpKind kind, std::string_view variable, std::string value);

}  // namespace baton::collectives
