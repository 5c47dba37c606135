// Settings: the collectives' tunables, read from the environment once per
// group (the native backend reads them when it sets a group up), not at
// every operation.
//
//   BATON_ALGO_<COLLECTIVE>        forced algorithm, or auto (select.hpp)
//   BATON_ALL_REDUCE_SMALL_BYTES   recursive doubling below, ring above
//   BATON_COLL_SEGMENT_BYTES       pipelined algorithms' largest message
//   BATON_COLL_PIPELINE_DEPTH      receives a ring keeps posted ahead
//
// Thread safety: a plain value; from_config() reads the environment.
#pragma once

#include <array>
#include <cstddef>
#include <optional>

#include "collectives/op_kind.hpp"
#include "collectives/select.hpp"

namespace baton::collectives {

// Knobs of the pipelined algorithms.
struct Tuning {
  // Largest message of a pipelined algorithm: blocks are cut into segments of
  // at most this many bytes (rounded down to whole elements, at least one).
  size_t segment_bytes = size_t{512} << 10;
  // Receives a ring keeps posted ahead of the one it is reducing (>= 1).
  size_t pipeline_depth = 4;
};

struct Settings {
  Tuning tuning{};
  // Under auto, all_reduce below this many bytes runs recursive doubling.
  size_t all_reduce_small_bytes = 65536;
  // Per OpKind: the algorithm BATON_ALGO_* forces; nullopt under auto.
  std::array<std::optional<Algorithm>, 10> forced{};

  // Reads every variable above. Throws InvalidArgument naming the variable
  // and what it accepts when one is malformed (an unknown algorithm, a
  // segment size or depth below 1).
  static Settings from_config();
};

}  // namespace baton::collectives
