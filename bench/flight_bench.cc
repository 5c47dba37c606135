// baton-flight-bench: what the always-on flight recorder costs per
// operation (issue, start, end of one collective; post and completion of one
// send), against the 8 B all_reduce it rides on (docs/observability.md).
#include <benchmark/benchmark.h>

#include "backends/flight_recorder.hpp"
#include "collectives/op_kind.hpp"

namespace {

using baton::backends::FlightOp;
using baton::backends::FlightRecorder;
using baton::backends::FlightState;

std::shared_ptr<FlightRecorder> recorder() {
  FlightRecorder::Identity id;
  id.group_name = "world";
  id.size = 2;
  id.world_ranks = {0, 1};
  id.transport = "shm";
  return FlightRecorder::make(id, 512);
}

void BM_Collective(benchmark::State& state) {
  const auto rec = recorder();
  FlightOp op;
  op.desc.kind = static_cast<uint8_t>(baton::collectives::OpKind::kAllReduce);
  op.desc.count = 2;
  op.bytes = 8;
  for (auto _ : state) {
    ++op.seq;
    // As a blocking collective on the caller's thread: issued as started, then ended.
    const uint64_t t = rec->issued(op, FlightState::kStarted);
    rec->ended(t, true, 7);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Collective);

void BM_QueuedCollective(benchmark::State& state) {
  const auto rec = recorder();
  FlightOp op;
  op.desc.kind = static_cast<uint8_t>(baton::collectives::OpKind::kAllReduce);
  for (auto _ : state) {
    ++op.seq;
    const uint64_t t = rec->issued(op);
    rec->started(t);
    rec->ended(t, true, 7);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_QueuedCollective);

void BM_Send(benchmark::State& state) {
  const auto rec = recorder();
  FlightOp op;
  op.peer = 1;
  op.is_send = true;
  op.bytes = 8;
  for (auto _ : state) {
    const uint64_t t = rec->issued(op, FlightState::kPosted);
    rec->ended(t, true);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Send);

}  // namespace

BENCHMARK_MAIN();
