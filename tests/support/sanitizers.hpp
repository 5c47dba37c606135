// kSanitized: whether this test binary is built with ASan or TSan
// (BATON_SANITIZE, scripts/sanitize.sh). Their instrumentation makes code
// several times slower, so a test may leave out an assertion about timing
// (never one about results) when it is set.
#pragma once

namespace baton::testing {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

}  // namespace baton::testing
