// Helpers for the collective algorithm tests: run ranks over the loopback
// transport, make per-rank data with closed-form expectations, and compare
// results element by element, naming rank, index, expected and actual.
//
// Thread safety: run_on_loopback runs its body on one thread per rank; the
// data helpers are pure.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "baton/dtype.hpp"
#include "baton/reduce_op.hpp"
#include "collectives/algorithms.hpp"
#include "collectives/comm.hpp"
#include "tests/support/loopback_context.hpp"

namespace baton::testing {

using collectives::Bytes;
using collectives::ConstBytes;
using Buffer = std::vector<std::byte>;

// How long one collective may take in these tests before TimeoutError.
inline constexpr std::chrono::milliseconds kOpTimeout{20'000};

// Runs body(context, rank) on `world` threads sharing a fresh loopback group;
// a rank that throws or fails an assertion fails the test (named).
void run_on_loopback(int world, const std::function<void(transport::Context&, int rank)>& body,
                     LoopbackOptions options = {});

// A Comm for operation number `seq` described by `op`, due within `timeout`.
collectives::Comm make_comm(transport::Context& context, uint64_t seq, transport::OpDesc op,
                            std::chrono::milliseconds timeout = kOpTimeout);

transport::OpDesc op_desc(collectives::OpKind kind, DType dtype, size_t count,
                          ReduceOp op = ReduceOp::SUM, int root = -1);

// --- Reductions: element `index` of rank `rank`'s input, small integers
// chosen so that every dtype holds them and every result exactly. ---
double input_value(ReduceOp op, DType dtype, int rank, size_t index);
// The exact result of reducing input_value over ranks 0..world-1 at `index`,
// as the dtype holds it (AVG divided as kernels::divide does).
double expected_value(ReduceOp op, DType dtype, int world, size_t index);

// `count` elements of dtype with element i = value(first + i).
Buffer make_elements(DType dtype, size_t count, size_t first,
                     const std::function<double(size_t)>& value);
// Element i of a buffer as a double (Bool: the raw byte).
double element_at(DType dtype, ConstBytes data, size_t i);

// Compares count elements of `actual` with expected(first + i); on failure
// names what, the rank, the first few wrong indices, expected and actual.
::testing::AssertionResult elements_equal(DType dtype, ConstBytes actual, size_t first,
                                          const std::function<double(size_t)>& expected, int rank,
                                          const std::string& what);

// --- Data movement: byte `index` of rank `rank`'s data, a pattern that
// differs per rank and position. ---
std::byte pattern_byte(int rank, size_t index);
Buffer make_pattern(int rank, size_t bytes, size_t first = 0);
::testing::AssertionResult bytes_equal_pattern(ConstBytes actual, int source_rank, size_t first,
                                               int rank, const std::string& what);

// Every (dtype, op) pair the kernels define.
std::vector<std::pair<DType, ReduceOp>> all_dtype_op_pairs();

std::string case_name(DType dtype, ReduceOp op, int world, size_t count);

}  // namespace baton::testing
