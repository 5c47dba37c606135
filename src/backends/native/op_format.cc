// Names of collectives for messages, from their OpDesc.
#include "backends/native/op_format.hpp"

#include <iterator>

#include "baton/dtype.hpp"
#include "baton/reduce_op.hpp"
#include "collectives/op_kind.hpp"
#include "collectives/select.hpp"

namespace baton::backends::native {

std::string describe_op(const transport::OpDesc& op, uint64_t seq) {
  using collectives::OpKind;
  const auto kind = static_cast<OpKind>(op.kind);
  std::string out = std::string(collectives::op_kind_name(kind)) + " #" + std::to_string(seq);
  // The algorithm, once chosen: "ring", "shared_memory", ...
  std::string algorithm;
  if (op.algorithm > 0) {
    const auto a = static_cast<collectives::Algorithm>(op.algorithm - 1);
    algorithm = op.algorithm <= static_cast<uint8_t>(collectives::Algorithm::kHierarchical) + 1
                    ? std::string(collectives::algorithm_name(a))
                    : "algorithm " + std::to_string(op.algorithm);
  }
  if (kind == OpKind::kBarrier) return algorithm.empty() ? out : out + " (" + algorithm + ")";

  std::string dtype = "dtype " + std::to_string(op.dtype);
  if (op.dtype < std::size(kAllDTypes))
    dtype = std::string(dtype_name(static_cast<DType>(op.dtype)));
  out += " (" + dtype;
  if (kind != OpKind::kAllToAll) {
    out += ", " + std::to_string(op.count) + (op.count == 1 ? " element" : " elements");
    if (kind == OpKind::kAllGather || kind == OpKind::kGather || kind == OpKind::kScatter ||
        kind == OpKind::kReduceScatter) {
      out += " per rank";
    }
  }
  const bool reduces =
      kind == OpKind::kAllReduce || kind == OpKind::kReduce || kind == OpKind::kReduceScatter;
  if (reduces) {
    if (op.reduce_op < std::size(kAllReduceOps)) {
      out += ", " + std::string(reduce_op_name(static_cast<ReduceOp>(op.reduce_op)));
    } else {
      out += ", reduce op " + std::to_string(op.reduce_op);
    }
  }
  if (op.root >= 0) out += ", root " + std::to_string(op.root);
  if (!algorithm.empty()) out += ", " + algorithm;
  return out + ")";
}

}  // namespace baton::backends::native
