// kSanitized: whether this test binary is built with ASan or TSan
// (BATON_SANITIZE, scripts/sanitize.sh); kThreadSanitized: with TSan. Their
// instrumentation makes code several times slower (TSan 5-15 times), so a
// test may leave out an assertion about timing (never one about results),
// or a size that would outlast its timeouts, when they are set.
#pragma once

namespace baton::testing {

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kThreadSanitized = true;
#else
inline constexpr bool kThreadSanitized = false;
#endif
#else
inline constexpr bool kThreadSanitized = false;
#endif

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = kThreadSanitized;
#endif
#else
inline constexpr bool kSanitized = kThreadSanitized;
#endif

}  // namespace baton::testing
