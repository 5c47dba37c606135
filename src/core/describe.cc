// rank_list, describe_ranks, describe_duration.
#include "core/describe.hpp"

#include <algorithm>
#include <cstdio>

namespace baton {
namespace {
constexpr size_t kMaxItems = 32;  // longer lists end in "... (N in all)"
}  // namespace

std::string rank_list(const std::vector<int>& ranks) {
  std::string out;
  for (size_t i = 0; i < ranks.size() && i < kMaxItems; ++i) {
    out += (i ? ", " : "") + std::to_string(ranks[i]);
  }
  if (ranks.size() > kMaxItems) out += ", ... (" + std::to_string(ranks.size()) + " in all)";
  return out;
}

std::string describe_ranks(const std::vector<int>& ranks_in, int world_size) {
  std::vector<int> ranks = ranks_in;
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  std::vector<std::string> items;
  for (size_t i = 0; i < ranks.size();) {
    size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    if (j - i >= 2) {
      items.push_back(std::to_string(ranks[i]) + "-" + std::to_string(ranks[j]));
    } else {
      for (size_t k = i; k <= j; ++k) items.push_back(std::to_string(ranks[k]));
    }
    i = j + 1;
  }
  std::string text = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < items.size() && i < kMaxItems; ++i) text += (i > 0 ? ", " : "") + items[i];
  if (items.size() > kMaxItems) text += ", ... (" + std::to_string(ranks.size()) + " in all)";
  return text + " of " + std::to_string(world_size);
}

std::string describe_duration(std::chrono::milliseconds duration) {
  const int64_t ms = duration.count();
  std::string text = (ms < 0 ? "-" : "") + std::to_string(std::abs(ms) / 1000);
  if (ms % 1000 != 0) {
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03lld", static_cast<long long>(std::abs(ms) % 1000));
    std::string f = frac;
    while (f.back() == '0') f.pop_back();
    text += f;
  }
  return text + " s";
}

}  // namespace baton
