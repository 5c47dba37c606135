// Micro-benchmarks of the reduction kernels against memcpy.
//
// bytes_per_second is the size of ONE tensor (the inout buffer) per second,
// so a reduce_into and a memcpy of the same tensor are compared directly: the
// issue's goal is BM_ReduceInto/float32/SUM at 16 MiB within 2x of
// BM_Memcpy at 16 MiB. The `traffic` counter is every byte read or written
// per second (memcpy: 2x the tensor; reduce_into: 3x; reduce_n with n inputs:
// n+1 times), which shows how close a kernel is to the memory bandwidth.
// The second argument picks the code path: 0 portable, 1 AVX2 (where the CPU
// has it; otherwise both rows run the portable path).
//
//   baton-reduce-bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "baton/dtype.hpp"
#include "baton/reduce_op.hpp"
#include "core/reduce_kernels.hpp"

namespace {

using baton::DType;
using baton::ReduceOp;
using baton::kernels::Isa;

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;

Isa isa_arg(const benchmark::State& state) { return state.range(1) != 0 ? Isa::kAvx2 : Isa::kPortable; }

// A buffer of `bytes` filled with the element value 1 (so that sums grow
// slowly and never reach infinity or denormals during a run).
std::vector<unsigned char> ones(DType dtype, size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  const size_t esize = baton::element_size(dtype);
  baton::visit_dtype(dtype, [&]<class T>(T) {
    const T one = T(1.0f);
    for (size_t off = 0; off + esize <= bytes; off += esize) std::memcpy(&buf[off], &one, esize);
  });
  return buf;
}

void set_rates(benchmark::State& state, int64_t tensor_bytes, int64_t traffic_bytes) {
  state.SetBytesProcessed(state.iterations() * tensor_bytes);
  state.counters["traffic"] = benchmark::Counter(
      static_cast<double>(state.iterations() * traffic_bytes), benchmark::Counter::kIsRate,
      benchmark::Counter::kIs1024);
}

void BM_Memcpy(benchmark::State& state) {
  const auto bytes = static_cast<size_t>(state.range(0));
  std::vector<unsigned char> src(bytes, 1), dst(bytes, 0);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, state.range(0), 2 * state.range(0));
}

void BM_ReduceInto(benchmark::State& state, DType dtype, ReduceOp op) {
  const baton::kernels::ScopedIsaOverride path(isa_arg(state));
  const auto bytes = static_cast<size_t>(state.range(0));
  const size_t count = bytes / baton::element_size(dtype);
  std::vector<unsigned char> inout = ones(dtype, bytes), in = ones(dtype, bytes);
  for (auto _ : state) {
    baton::kernels::reduce_into(op, dtype, inout.data(), in.data(), count);
    benchmark::DoNotOptimize(inout.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string(baton::kernels::isa_name(baton::kernels::active_isa())) +
                 (dtype == DType::Float16 && baton::kernels::uses_f16c() ? "+f16c" : ""));
  set_rates(state, state.range(0), 3 * state.range(0));
}

// reduce_n of state.range(2) inputs into a separate output.
void BM_ReduceN(benchmark::State& state, DType dtype) {
  const baton::kernels::ScopedIsaOverride path(isa_arg(state));
  const auto bytes = static_cast<size_t>(state.range(0));
  const auto n = static_cast<size_t>(state.range(2));
  const size_t count = bytes / baton::element_size(dtype);
  std::vector<std::vector<unsigned char>> inputs;
  std::vector<const void*> ptrs;
  for (size_t k = 0; k < n; ++k) inputs.push_back(ones(dtype, bytes));
  for (const auto& in : inputs) ptrs.push_back(in.data());
  std::vector<unsigned char> out(bytes, 0);
  for (auto _ : state) {
    baton::kernels::reduce_n(ReduceOp::SUM, dtype, out.data(), ptrs, count);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, state.range(0), static_cast<int64_t>(n + 1) * state.range(0));
}

void sizes_and_paths(benchmark::internal::Benchmark* b) {
  b->ArgNames({"bytes", "avx2"});
  for (int64_t bytes : {256 * kKiB, 16 * kMiB}) {
    for (int64_t avx2 : {0, 1}) b->Args({bytes, avx2});
  }
}

void sizes_paths_inputs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"bytes", "avx2", "inputs"});
  for (int64_t inputs : {2, 4, 8}) {
    for (int64_t avx2 : {0, 1}) b->Args({16 * kMiB, avx2, inputs});
  }
}

BENCHMARK(BM_Memcpy)->ArgName("bytes")->Arg(256 * kKiB)->Arg(16 * kMiB);
BENCHMARK_CAPTURE(BM_ReduceInto, float32/SUM, DType::Float32, ReduceOp::SUM)->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(BM_ReduceInto, float32/MAX, DType::Float32, ReduceOp::MAX)->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(BM_ReduceInto, float64/SUM, DType::Float64, ReduceOp::SUM)->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(BM_ReduceInto, float16/SUM, DType::Float16, ReduceOp::SUM)->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(BM_ReduceInto, bfloat16/SUM, DType::BFloat16, ReduceOp::SUM)->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(BM_ReduceInto, int32/SUM, DType::Int32, ReduceOp::SUM)->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(BM_ReduceInto, int8/SUM, DType::Int8, ReduceOp::SUM)->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(BM_ReduceN, float32/SUM, DType::Float32)->Apply(sizes_paths_inputs);
BENCHMARK_CAPTURE(BM_ReduceN, float16/SUM, DType::Float16)->Apply(sizes_paths_inputs);

}  // namespace

int main(int argc, char** argv) {
  benchmark::AddCustomContext("baton_detected_isa",
                              std::string(baton::kernels::isa_name(baton::kernels::detected_isa())));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
