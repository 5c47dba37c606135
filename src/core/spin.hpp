// How long a waiting thread polls before it goes to sleep.
//
// Waking a sleeping thread is the slowest thing a small virtual machine
// does: with every thread of a vCPU asleep the vCPU halts, and the wake-up
// can cost up to a scheduler tick. A waiter that keeps polling (yielding its
// core to anything runnable, so ranks that outnumber cores still progress)
// is woken for free. spin_duration() is BATON_SPIN_US, read once per process.
//
// Thread safety: safe from any thread.
#pragma once

#include <chrono>

namespace baton::spin {

std::chrono::microseconds spin_duration();

}  // namespace baton::spin
