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

// Tells the core that this thread is polling (x86 PAUSE, Arm YIELD): the
// sibling hyperthread gets the pipeline and the poll loop does not flood the
// memory system.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Whether the calling process may run on fewer CPUs than `threads` busy
// threads need (sched_getaffinity): pollers should then yield their core.
bool oversubscribed(int threads);

}  // namespace baton::spin
