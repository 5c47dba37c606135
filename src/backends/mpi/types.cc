// MPI datatypes and reduction ops: built-in where MPI's meaning is Baton's,
// Baton's kernels behind user-defined ops elsewhere.
#include "backends/mpi/types.hpp"

#include <array>

#include "core/reduce_kernels.hpp"

namespace baton::backends::mpi {
namespace {

constexpr std::array kOps = {ReduceOp::SUM, ReduceOp::PRODUCT, ReduceOp::MIN, ReduceOp::MAX,
                             ReduceOp::AVG, ReduceOp::BAND,    ReduceOp::BOR, ReduceOp::BXOR};
constexpr std::array kDTypes = {DType::Float32,  DType::Float64, DType::Float16,
                                DType::BFloat16, DType::Int8,    DType::UInt8,
                                DType::Int32,    DType::Int64,   DType::Bool};

struct Tables {
  std::array<MPI_Datatype, kDTypes.size()> types{};
  std::array<MPI_Op, kOps.size()> kernel_ops{};
};

size_t index_of(DType dtype) {
  for (size_t i = 0; i < kDTypes.size(); ++i) {
    if (kDTypes[i] == dtype) return i;
  }
  return 0;
}

size_t index_of(ReduceOp op) {
  for (size_t i = 0; i < kOps.size(); ++i) {
    if (kOps[i] == op) return i;
  }
  return 0;
}

const Tables& tables();

// inout[i] = op(inout[i], in[i]) with Baton's kernel. MPI calls this with a
// datatype of reduction_type(dtype); an exception cannot cross MPI's C
// frames, and none is possible for the (op, dtype) pairs the api admits.
template <ReduceOp kOp>
void kernel_op(void* in, void* inout, int* len, MPI_Datatype* type) {
  const auto& t = tables();
  for (size_t i = 0; i < kDTypes.size(); ++i) {
    if (t.types[i] != *type) continue;
    try {
      kernels::reduce_into(kOp, kDTypes[i], inout, in, static_cast<size_t>(*len));
    } catch (...) {
    }
    return;
  }
}

Tables make_tables() {
  Tables t;
  t.types = {MPI_FLOAT,   MPI_DOUBLE,  MPI_DATATYPE_NULL, MPI_DATATYPE_NULL, MPI_INT8_T,
             MPI_UINT8_T, MPI_INT32_T, MPI_INT64_T,       MPI_DATATYPE_NULL};
  for (DType own : {DType::Float16, DType::BFloat16, DType::Bool}) {
    MPI_Datatype type = MPI_DATATYPE_NULL;
    MPI_Type_contiguous(static_cast<int>(element_size(own)), MPI_BYTE, &type);
    MPI_Type_commit(&type);
    t.types[index_of(own)] = type;
  }
  MPI_User_function* fns[] = {&kernel_op<ReduceOp::SUM>, &kernel_op<ReduceOp::PRODUCT>,
                              &kernel_op<ReduceOp::MIN>, &kernel_op<ReduceOp::MAX>,
                              &kernel_op<ReduceOp::SUM>, &kernel_op<ReduceOp::BAND>,
                              &kernel_op<ReduceOp::BOR>, &kernel_op<ReduceOp::BXOR>};
  for (size_t i = 0; i < kOps.size(); ++i) MPI_Op_create(fns[i], 1, &t.kernel_ops[i]);
  return t;
}

const Tables& tables() {
  static const Tables t = make_tables();
  return t;
}

bool is_integer(DType dtype) {
  return dtype == DType::Int8 || dtype == DType::UInt8 || dtype == DType::Int32 ||
         dtype == DType::Int64;
}

}  // namespace

MPI_Datatype reduction_type(DType dtype) {
  return tables().types[index_of(dtype)];
}

bool uses_baton_kernel(ReduceOp op, DType dtype) {
  if (is_integer(dtype)) return false;
  if (dtype == DType::Float32 || dtype == DType::Float64) {
    return op == ReduceOp::MIN || op == ReduceOp::MAX;
  }
  return true;  // Float16, BFloat16, Bool
}

MPI_Op reduction_op(ReduceOp op, DType dtype) {
  if (uses_baton_kernel(op, dtype)) return tables().kernel_ops[index_of(op)];
  switch (op) {
    case ReduceOp::PRODUCT: return MPI_PROD;
    case ReduceOp::MIN: return MPI_MIN;
    case ReduceOp::MAX: return MPI_MAX;
    case ReduceOp::BAND: return MPI_BAND;
    case ReduceOp::BOR: return MPI_BOR;
    case ReduceOp::BXOR: return MPI_BXOR;
    default: return MPI_SUM;  // SUM, AVG
  }
}

}  // namespace baton::backends::mpi
