// The process's live FlightRecorders, for the dump writer (flight_dump.cc):
// a fixed array of atomic pointers, so a signal handler can walk it.
//
// Thread safety: lock-free; safe from any thread and from signal handlers.
#pragma once

namespace baton::backends {
class FlightRecorder;
}

namespace baton::backends::flight {

inline constexpr int kMaxRecorders = 256;

// The slot `recorder` took, or -1 when all are taken (it is then not dumped).
int register_recorder(FlightRecorder* recorder);
void unregister_recorder(int slot, FlightRecorder* recorder);
// The recorder in `slot`, or nullptr.
FlightRecorder* recorder_at(int slot);

}  // namespace baton::backends::flight
