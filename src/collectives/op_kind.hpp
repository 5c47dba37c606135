// OpKind: which operation a message belongs to, carried in every collective
// frame so that ranks that disagree are caught (see transport::OpDesc).
#pragma once

#include <cstdint>
#include <string_view>

namespace baton::collectives {

enum class OpKind : uint8_t {
  kPointToPoint = 0,
  kBroadcast = 1,
  kAllReduce = 2,
  kReduce = 3,
  kAllGather = 4,
  kGather = 5,
  kScatter = 6,
  kReduceScatter = 7,
  kAllToAll = 8,
  kBarrier = 9,
};

// "all_reduce", "broadcast", ... as in the public API.
std::string_view op_kind_name(OpKind kind);

}  // namespace baton::collectives
