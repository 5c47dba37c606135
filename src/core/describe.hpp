// Text for messages: lists of ranks and durations, written one way everywhere.
//
//   rank_list({2, 0, 5})         "2, 0, 5"        (in the order given; long lists cut)
//   describe_ranks({3, 1}, 4)    "ranks 1, 3 of 4" (sorted, runs of three or more as
//                                                   ranges: "ranks 0-2, 5 of 8")
//   describe_duration(1500ms)    "1.5 s"           ("30 s", "0.25 s", "0.05 s")
//
// Thread safety: pure functions.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace baton {

std::string rank_list(const std::vector<int>& ranks);
std::string describe_ranks(const std::vector<int>& ranks, int world_size);
std::string describe_duration(std::chrono::milliseconds duration);

}  // namespace baton
